"""Objectives of a multi-objective search and the non-dominated front over them."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import moocore
import numpy as np
from pydantic import BaseModel, ConfigDict


class Objective(BaseModel):
    """One objective: a reported metric, its direction, and its hypervolume reference value.

    ``ref`` is the reference-point coordinate for hypervolume, declared up front and never
    derived from a run's own results (DESIGN section 3). Units are the metric's own
    (accuracy 0-1, latency ms, energy mJ, FLOPs per image, parameters).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    mode: Literal["min", "max"]
    ref: float


def finite_values(metrics: Mapping[str, Any], names: Sequence[str]) -> list[float] | None:
    """The values of ``names`` in order, or None when one is missing or not a finite number."""
    values = []
    for name in names:
        value = metrics.get(name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return None
        if not math.isfinite(value):
            return None
        values.append(float(value))
    return values


def objective_values(
    metrics: Mapping[str, Any], objectives: Sequence[Objective]
) -> list[float] | None:
    """The objective values in order, or None when one is missing or not a finite number."""
    return finite_values(metrics, [o.metric for o in objectives])


def non_dominated_mask(points: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (moocore; duplicates all kept)."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    maximise = [o.mode == "max" for o in objectives]
    return np.asarray(moocore.is_nondominated(points, maximise=maximise, keep_weakly=True))
