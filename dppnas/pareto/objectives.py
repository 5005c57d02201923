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

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    metric: str
    mode: Literal["min", "max"]
    ref: float

    @property
    def label(self) -> str:
        """An axis label with the unit and the direction: ``latency/jetson (ms, lower is
        better)``."""
        unit = metric_unit(self.metric)
        better = "higher" if self.mode == "max" else "lower"
        return f"{self.metric} ({unit + ', ' if unit else ''}{better} is better)"


def metric_unit(metric: str) -> str:
    """The unit of a metric a trial reports (DESIGN section 3); empty when unknown."""
    if metric.startswith("latency/"):
        return "ms"
    if metric.startswith("energy/"):
        return "mJ"
    if metric.endswith("accuracy"):
        return "0-1"
    return {"flops": "FLOPs per image", "params": "parameters"}.get(metric, "")


def is_fraction(metric: str) -> bool:
    """Whether ``metric`` is an accuracy (a fraction 0-1, shown with fixed decimals)."""
    return metric.endswith("accuracy")


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
