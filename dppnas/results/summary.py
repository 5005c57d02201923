"""Picks on a Pareto front: the knee point and the best accuracy under cost budgets.

Pure functions on objective matrices; rows are points, columns objectives in their own units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

BUDGET_QUANTILES = (0.25, 0.5, 0.75)


def normalise(points: ArrayLike, maximise: Sequence[bool]) -> np.ndarray:
    """Points turned to minimisation and scaled to [0, 1] per objective (0 = best on the set).

    An objective with a single value on the set maps to 0.
    """
    rows = np.asarray(points, dtype=float).reshape(-1, len(maximise))
    rows = np.where(np.asarray(maximise), -rows, rows)
    low, high = rows.min(axis=0), rows.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return (rows - low) / span


def knee_index(front: ArrayLike, maximise: Sequence[bool]) -> int:
    """Index of the knee point of ``front`` (non-dominated points, own units).

    Two objectives: the point farthest from the straight line joining the two extreme points,
    in normalised objective space (Das 1999; Deb & Gupta 2011, "knee regions").
    More objectives, or fewer than three points: the point closest (Euclidean) to the ideal
    point, which is the origin of the normalised space.
    """
    rows = normalise(front, maximise)
    if len(rows) == 0:
        raise ValueError("an empty front has no knee")
    if rows.shape[1] == 2 and len(rows) >= 3:
        a = rows[np.argmin(rows[:, 0])]
        b = rows[np.argmin(rows[:, 1])]
        direction = b - a
        length = float(np.hypot(*direction))
        if length > 0:
            # perpendicular distance to the line a-b (2-D cross product)
            offsets = rows - a
            distance = np.abs(direction[0] * offsets[:, 1] - direction[1] * offsets[:, 0])
            return int(np.argmax(distance / length))
    return int(np.argmin(np.linalg.norm(rows, axis=1)))


@dataclass
class BudgetPick:
    """The most accurate result whose ``cost`` is at most ``budget`` (None: nothing fits)."""

    cost: str
    quantile: float
    budget: float
    index: int | None


def budget_picks(
    accuracy: ArrayLike,
    costs: dict[str, ArrayLike],
    front_costs: dict[str, ArrayLike],
    quantiles: Sequence[float] = BUDGET_QUANTILES,
) -> list[BudgetPick]:
    """For each cost and quantile: the budget is that quantile of the cost over the front
    (linear interpolation, numpy's default); the pick is the index of the most accurate result
    within it (ties: the cheaper). ``accuracy`` and ``costs`` cover the candidates (all final
    results: the best under a single budget is always on the front or tied with a front point).
    """
    acc = np.asarray(accuracy, dtype=float)
    picks = []
    for name, values in costs.items():
        cost = np.asarray(values, dtype=float)
        for q in quantiles:
            budget = float(np.quantile(np.asarray(front_costs[name], dtype=float), q))
            fits = np.flatnonzero(cost <= budget)
            index = None
            if len(fits):
                index = int(min(fits, key=lambda i: (-acc[i], cost[i])))
            picks.append(BudgetPick(name, q, budget, index))
    return picks
