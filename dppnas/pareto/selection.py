"""Choosing the best k of a set of objective vectors: NSGA-II ranking or an epsilon-net.

Both orders first sort the points into non-dominated fronts (moocore) and take whole fronts,
best first; they differ inside a front:

* ``nsga2`` — larger crowding distance first (Deb et al. 2002, NSGA-II truncation).
* ``epsnet`` — a greedy epsilon-net: start from the point best on the first objective, then
  repeatedly take the point farthest (Euclidean, in objective space normalised to [0, 1] over
  the whole set) from those already chosen. MO-ASHA's EpsNet priority (Salinas et al. 2021;
  Schmucker et al. 2021), after Clarkson 2006's farthest-point construction.

Ties keep the input order (earlier first), so the result is deterministic. Used by MO-ASHA's
rung decision and by the DPP-Net searcher's "keep K by Pareto optimality".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from dppnas.pareto.indicators import crowding_distance, non_dominated_rank, to_minimisation

Selection = Literal["nsga2", "epsnet"]


def rank_and_crowding_order(points: ArrayLike, maximise: Sequence[bool]) -> np.ndarray:
    """Indices of ``points`` best first: by non-dominated rank, then crowding distance (desc)."""
    array = np.asarray(points, dtype=float).reshape(-1, len(maximise))
    ranks = non_dominated_rank(array, maximise)
    crowding = np.zeros(len(array))
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distance(array[members])
    # lexsort sorts by the last key first and is stable: rank, then -crowding, then index.
    return np.lexsort((-crowding, ranks)).astype(int)


def epsilon_net_order(points: ArrayLike, maximise: Sequence[bool]) -> np.ndarray:
    """Indices of ``points`` best first: by non-dominated rank, then epsilon-net order."""
    array = to_minimisation(np.asarray(points, dtype=float).reshape(-1, len(maximise)), maximise)
    if len(array) == 0:
        return np.zeros(0, dtype=int)
    low, high = array.min(axis=0), array.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    normalised = (array - low) / span
    ranks = non_dominated_rank(array, [False] * array.shape[1])
    order: list[int] = []
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        order.extend(members[_farthest_point_order(normalised[members])])
    return np.asarray(order, dtype=int)


def _farthest_point_order(points: np.ndarray) -> np.ndarray:
    """Greedy farthest-point order of ``points`` (minimisation form), seeded at the best first
    objective (smallest index among ties)."""
    n = len(points)
    chosen = [int(np.argmin(points[:, 0]))]
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    nearest[chosen[0]] = -np.inf
    for _ in range(n - 1):
        nxt = int(np.argmax(nearest))  # first index among ties
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[nxt], axis=1))
        nearest[chosen] = -np.inf
    return np.asarray(chosen, dtype=int)


def selection_order(
    points: ArrayLike, maximise: Sequence[bool], selection: Selection = "nsga2"
) -> np.ndarray:
    """Indices of ``points`` best first, by ``selection`` (``"nsga2"`` or ``"epsnet"``)."""
    if selection == "nsga2":
        return rank_and_crowding_order(points, maximise)
    if selection == "epsnet":
        return epsilon_net_order(points, maximise)
    raise ValueError(f"unknown selection {selection!r}; use 'nsga2' or 'epsnet'")
