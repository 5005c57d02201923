"""Quality indicators and rankings of point sets, as thin wrappers over moocore.

Every function takes points as an ``(n, m)`` array in the objectives' own units and
directions, plus ``maximise`` (one bool per objective). Hypervolume, IGD+ and non-dominated
sorting are moocore's; only the NSGA-II crowding distance is written here, because moocore
(0.3) does not provide it.
"""

from __future__ import annotations

from collections.abc import Sequence

import moocore
import numpy as np
from numpy.typing import ArrayLike


def _as_points(points: ArrayLike, m: int | None = None) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim == 1 and array.size == 0 and m is not None:
        array = array.reshape(0, m)
    if array.ndim != 2:
        raise ValueError(f"points must be an (n, m) array, got shape {array.shape}")
    return array


def to_minimisation(points: ArrayLike, maximise: Sequence[bool]) -> np.ndarray:
    """The points with every maximised objective negated, so that lower is better everywhere."""
    array = np.asarray(points, dtype=float)
    signs = np.where(np.asarray(maximise, dtype=bool), -1.0, 1.0)
    return array * signs


def hypervolume(points: ArrayLike, reference_point: ArrayLike, maximise: Sequence[bool]) -> float:
    """Hypervolume dominated by ``points`` and bounded by ``reference_point`` (moocore).

    Objectives are turned to minimisation first (maximised objectives and their reference
    coordinates negated), so the value is in the product of the objectives' units. Points that
    do not strictly dominate the reference point contribute nothing. Empty set: 0.
    """
    ref = np.asarray(reference_point, dtype=float)
    array = _as_points(points, len(ref))
    if len(array) == 0:
        return 0.0
    return float(
        moocore.hypervolume(to_minimisation(array, maximise), ref=to_minimisation(ref, maximise))
    )


def igd_plus(points: ArrayLike, reference_front: ArrayLike, maximise: Sequence[bool]) -> float:
    """IGD+ of ``points`` to ``reference_front`` (Ishibuchi et al. 2015; moocore); lower is better.

    The mean, over the reference points, of the distance to the nearest point counting only the
    components in which the point is worse. Units are the objectives' own.
    """
    reference = _as_points(reference_front, len(maximise))
    array = _as_points(points, reference.shape[1])
    if len(array) == 0 or len(reference) == 0:
        return float("inf") if len(reference) else 0.0
    return float(moocore.igd_plus(array, ref=reference, maximise=list(maximise)))


def non_dominated_rank(points: ArrayLike, maximise: Sequence[bool]) -> np.ndarray:
    """Front index of every point: 0 for the non-dominated set, 1 for the next, ... (moocore).

    Non-dominated sorting of Deb et al. 2002 (NSGA-II); duplicates share a rank.
    """
    array = _as_points(points, len(maximise))
    if len(array) == 0:
        return np.zeros(0, dtype=int)
    # moocore 0.3.2 reverses the ranks for one objective given maximise=[False] (it tests the
    # list's truth); turning maximised columns to minimisation ourselves avoids the flag.
    sign = np.where(np.asarray(maximise, dtype=bool), -1.0, 1.0)
    return np.asarray(moocore.pareto_rank(array * sign), dtype=int)


def crowding_distance(points: ArrayLike) -> np.ndarray:
    """NSGA-II crowding distance of each point within one front (Deb et al. 2002, section III-B).

    Hand-written because moocore has none: for each objective, sort the points; the two boundary
    points get infinity, every other point adds the gap between its two neighbours divided by
    the objective's range. Larger means lonelier. Direction does not matter (distances only).
    """
    array = _as_points(points)
    n, m = array.shape
    distance = np.zeros(n, dtype=float)
    if n <= 2:
        distance[:] = np.inf
        return distance
    for j in range(m):
        order = np.argsort(array[:, j], kind="stable")
        values = array[order, j]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance
