"""MONAS rewards: pure functions of a child's objective values (and, for ``pareto``, the front).

Objectives follow :class:`dppnas.pareto.Objective`: ``mode`` max for accuracy-like metrics,
min for costs (latency ms, energy mJ, params, FLOPs per image), ``ref`` the declared
reference value. Values arrive in the objectives' order and units.

* :func:`mixed_reward` and :func:`constrained_reward` are MONAS's two rewards (Hsu et al. 2018,
  arXiv 1806.10332); the penalty shape of the constrained reward is ours.
* :func:`pareto_reward` is ours, beyond the paper: a reward from the current front, so one
  search yields a whole front instead of one trade-off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import moocore
import numpy as np
from numpy.typing import ArrayLike

from dppnas.pareto import Objective
from dppnas.pareto.indicators import hypervolume


def _scale(value: float) -> float:
    return abs(value) if value != 0 else 1.0


def normalised_costs(
    points: ArrayLike, objectives: Sequence[Objective], ideal: ArrayLike | None = None
) -> np.ndarray:
    """Points as costs to minimise, each objective scaled so that its ``ref`` maps to 1.

    Without ``ideal``: ``z = 1 + s * (v - ref) / |ref|`` with ``s = +1`` for a min objective
    and ``-1`` for a max one (``|ref|`` taken as 1 when ``ref`` is 0). A cost becomes
    ``v / ref``; an accuracy with ``ref = 0`` becomes ``1 - accuracy`` (the error rate).
    With ``ideal`` (one value per objective, better than ``ref``; ours): ``ideal`` maps to 0
    and ``ref`` to 1, so that every objective spans the same unit range whatever its
    reference value (an objective whose ideal is not better than its ref keeps the
    ``|ref|`` scale). The reference point is all ones, so hypervolumes and distances are
    unit-free.
    """
    array = np.asarray(points, dtype=float).reshape(-1, len(objectives))
    ref = np.array([o.ref for o in objectives], dtype=float)
    sign = np.array([1.0 if o.mode == "min" else -1.0 for o in objectives])
    scale = np.array([_scale(o.ref) for o in objectives])
    if ideal is not None:
        span = sign * (ref - np.asarray(ideal, dtype=float))
        scale = np.where(span > 0, span, scale)
    return 1.0 + sign * (array - ref) / scale


def mixed_reward(values: Sequence[float], objectives: Sequence[Objective], alpha: float) -> float:
    """MONAS's mixed reward ``R = alpha * acc - (1 - alpha) * sum_j cost_j / ref_j``.

    After Hsu et al. (2018): ``acc`` is the sum of the max objectives (normally one: validation
    accuracy, 0-1), each cost (min objective) is divided by its reference value so that the
    costs are unit-free and comparable. ``alpha`` in [0, 1] weighs accuracy against cost.
    """
    reward = 0.0
    for value, objective in zip(values, objectives, strict=True):
        if objective.mode == "max":
            reward += alpha * float(value)
        else:
            reward -= (1.0 - alpha) * float(value) / _scale(objective.ref)
    return reward


def constraint_violation(
    values: Sequence[float], objectives: Sequence[Objective], budgets: Sequence[float | None]
) -> float:
    """Sum of the relative budget violations; 0 when every constrained objective is in budget.

    A min objective violates its budget ``b`` by ``(v - b) / |b|`` when ``v > b``; a max
    objective by ``(b - v) / |b|`` when ``v < b`` (``|b|`` taken as 1 when ``b`` is 0). A budget
    of None leaves that objective unconstrained.
    """
    total = 0.0
    for value, objective, budget in zip(values, objectives, budgets, strict=True):
        if budget is None:
            continue
        excess = float(value) - budget if objective.mode == "min" else budget - float(value)
        total += max(0.0, excess) / _scale(budget)
    return total


def constrained_reward(
    values: Sequence[float],
    objectives: Sequence[Objective],
    budgets: Sequence[float | None],
    penalty: float = 1.0,
) -> float:
    """MONAS's constrained reward: ``acc`` within every budget, a penalty outside.

    Within budget (Hsu et al. 2018): the sum of the max objectives (normally the accuracy,
    0-1). Outside (ours): ``-penalty * constraint_violation(...)``, negative and growing with
    the relative violation, so that any feasible child outscores every infeasible one and the
    controller is pulled towards the budget even before it finds a feasible child.
    """
    violation = constraint_violation(values, objectives, budgets)
    if violation > 0:
        return -penalty * violation
    return float(sum(v for v, o in zip(values, objectives, strict=True) if o.mode == "max"))


def pareto_reward(
    values: Sequence[float],
    front: ArrayLike,
    objectives: Sequence[Objective],
    ideal: ArrayLike | None = None,
) -> float:
    """Ours: how much a child improves the current front, in normalised units.

    Points are first mapped by :func:`normalised_costs` (reference point all ones; with
    ``ideal``, the best value seen per objective at 0). ``front`` holds the final results
    seen so far (any points: only the non-dominated ones count).

    * A child that no point of the front weakly dominates and that lies inside the reference
      box earns its hypervolume contribution ``HV(F + {z}) - HV(F)`` (moocore), raised to the
      power ``1/m`` (m objectives) so that it is a length like the penalties below: > 0.
    * A dominated child earns ``-min_f ||max(z - f, 0)||_2``, minus its normalised IGD+
      distance to the front (Ishibuchi et al. 2015): how far it is from the front's region.
    * A non-dominated child outside the reference box earns minus its distance to the box.
    """
    m = len(objectives)
    z = normalised_costs(values, objectives, ideal)[0]
    points = normalised_costs(front, objectives, ideal)
    if len(points):
        points = points[np.asarray(moocore.is_nondominated(points), dtype=bool)]
        dominated_by = np.all(points <= z, axis=1)
        if dominated_by.any():
            gaps = np.maximum(z - points, 0.0)
            return -float(np.sqrt((gaps**2).sum(axis=1)).min())
    if np.any(z >= 1.0):
        return -float(np.linalg.norm(np.maximum(z - 1.0, 0.0)))
    ones = np.ones(m)
    minimise = [False] * m
    before = hypervolume(points, ones, minimise)  # 0 for an empty front
    after = hypervolume(np.vstack([points, z[None, :]]), ones, minimise)
    return float(max(after - before, 0.0) ** (1.0 / m))


def advantages(
    rewards: Any,
    baseline: float,
    mean_square: float | None,
    decay: float,
    normalise: bool,
) -> tuple[Any, float | None]:
    """REINFORCE advantages ``R - b`` (Williams 1992) and the updated moving mean square.

    Ours: with ``normalise``, ``R - b`` is divided by the root of the moving mean of its square
    (``decay`` per update, the batch's own mean square to start), so that the learning rate
    means the same for every reward kind and scale. ``rewards`` is an array or a tensor (the
    result is of its kind and precision). Returns ``(advantages, mean_square)``;
    ``mean_square`` is None without ``normalise``.
    """
    advantage = rewards - baseline
    if not normalise:
        return advantage, None
    square = float((advantage**2).mean())
    mean_square = square if mean_square is None else decay * mean_square + (1.0 - decay) * square
    if mean_square > 0:
        advantage = advantage / math.sqrt(mean_square)
    return advantage, mean_square
