"""Objectives of a multi-objective search and the non-dominated front over them."""

from __future__ import annotations

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


def objective_matrix(
    rows: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]
) -> np.ndarray:
    """Stack each row's objective values into an (n, m) float array, in objective order."""
    return np.array([[float(r[o.metric]) for o in objectives] for r in rows], dtype=float).reshape(
        len(rows), len(objectives)
    )


def non_dominated_mask(points: np.ndarray, objectives: Sequence[Objective]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (moocore; duplicates all kept)."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    maximise = [o.mode == "max" for o in objectives]
    return np.asarray(moocore.is_nondominated(points, maximise=maximise, keep_weakly=True))


def has_objectives(row: Mapping[str, Any], objectives: Sequence[Objective]) -> bool:
    """Whether ``row`` has a finite value for every objective."""
    for o in objectives:
        value = row.get(o.metric)
        if not isinstance(value, int | float) or not np.isfinite(value):
            return False
    return True
