"""Which candidates to train: NSGA-II order on (predicted accuracy, device objectives).

``pareto`` (DPP-Net, Dong et al., ECCV 2018, Sec. 3.3): non-dominated sorting of the
candidates on predicted accuracy and their device objectives, whole fronts first, the last
front cut by crowding distance (Deb et al. 2002, NSGA-II) — via
:func:`dppnas.pareto.rank_and_crowding_order` (moocore's ``pareto_rank``). ``accuracy``
(DPP-Net-PNAS, after Liu et al., ECCV 2018): by predicted accuracy alone, best first.

The whole order is returned, not only the first ``k``: a candidate whose trial errors is
replaced by the next one in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from dppnas.pareto import rank_and_crowding_order

SelectionRule = Literal["pareto", "accuracy"]
#: which trained architectures a step grows (:func:`search_algos.dpp.steps.beam`): the ``k``
#: best so far ("front", ours) or every one the previous step trained ("step", PNAS)
ParentRule = Literal["front", "step"]


def candidate_order(
    accuracy: ArrayLike | None,
    costs: ArrayLike | None,
    cost_maximise: Sequence[bool],
    selection: SelectionRule = "pareto",
) -> np.ndarray:
    """Indices of the candidates, best first.

    ``accuracy`` is ``(n,)`` (predicted, maximised) or None before any surrogate exists;
    ``costs`` is ``(n, m)`` in the objectives' own units and directions (``cost_maximise``
    one bool per column; usually all False) or None without device objectives. Ties keep the
    input order, so the result is deterministic. With neither accuracy nor costs, the input
    order is returned.
    """
    acc = None if accuracy is None else np.asarray(accuracy, dtype=float).reshape(-1)
    cost = None if costs is None else np.asarray(costs, dtype=float)
    if cost is not None:
        cost = cost.reshape(len(cost), -1)
        if cost.shape[1] != len(cost_maximise):
            raise ValueError(
                f"costs have {cost.shape[1]} columns but cost_maximise {len(cost_maximise)}"
            )
    n = len(acc) if acc is not None else (len(cost) if cost is not None else 0)
    if selection == "accuracy":
        if acc is None:
            return np.arange(n)
        return np.argsort(-acc, kind="stable")
    if selection != "pareto":
        raise ValueError(f"unknown selection {selection!r}; use 'pareto' or 'accuracy'")
    columns, maximise = [], []
    if acc is not None:
        columns.append(acc[:, None])
        maximise.append(True)
    if cost is not None and cost.shape[1]:
        columns.append(cost)
        maximise.extend(bool(m) for m in cost_maximise)
    if not columns:
        return np.arange(n)
    points = np.hstack(columns)
    if points.shape[1] == 1:
        # One objective: the fronts are the distinct values, best first, and ties keep the
        # input order. rank_and_crowding_order would rank the same fronts but put the two ends
        # of a run of tied values first (infinite crowding distance), reordering the ties.
        values = -points[:, 0] if maximise[0] else points[:, 0]
        return np.argsort(values, kind="stable")
    return rank_and_crowding_order(points, maximise)


def select(
    accuracy: ArrayLike | None,
    costs: ArrayLike | None,
    cost_maximise: Sequence[bool],
    k: int,
    selection: SelectionRule = "pareto",
) -> np.ndarray:
    """The first ``k`` of :func:`candidate_order` (fewer when there are fewer candidates)."""
    return candidate_order(accuracy, costs, cost_maximise, selection)[: max(k, 0)]
