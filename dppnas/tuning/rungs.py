"""Rung bookkeeping of multi-objective asynchronous successive halving (pure, no Ray).

Schmucker et al. 2021, "Multi-objective multi-fidelity hyperparameter optimization with
application to fairness" (MO-ASHA), after Li et al. 2020's ASHA: rungs sit at
``grace_period * eta**k`` (below ``max_t``). The first time a trial reaches a rung its objective
vector is recorded there, and it continues only if it ranks in the top ``floor(n / eta)`` of the
``n`` vectors the rung holds (itself included), ranked by non-dominated sorting then crowding
distance (``nsga2``) or an epsilon-net (``epsnet``). While a rung holds fewer than ``eta``
vectors every trial continues (optimistic promotion, as in ASHA).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dppnas.pareto.selection import Selection, selection_order

CONTINUE, STOP = "CONTINUE", "STOP"


def rung_milestones(grace_period: float, reduction_factor: float, max_t: float) -> list[float]:
    """``grace_period * eta**k`` for k = 0, 1, ... while below ``max_t`` (ascending)."""
    if grace_period <= 0 or reduction_factor <= 1 or max_t <= 0:
        raise ValueError("need grace_period > 0, reduction_factor > 1 and max_t > 0")
    milestones, t = [], float(grace_period)
    while t < max_t:
        milestones.append(t)
        t *= reduction_factor
    return milestones


@dataclass
class Rung:
    """One rung: its milestone (in ``time_attr`` units) and the vectors recorded there."""

    milestone: float
    recorded: dict[str, tuple[float, ...]] = field(default_factory=dict)


class Rungs:
    """The rungs of one bracket and the promotion decision (Schmucker et al. 2021)."""

    def __init__(
        self,
        milestones: Sequence[float],
        maximise: Sequence[bool],
        reduction_factor: float,
        selection: Selection = "nsga2",
    ) -> None:
        self.rungs = [Rung(float(m)) for m in sorted(milestones)]
        self.maximise = list(maximise)
        self.reduction_factor = float(reduction_factor)
        self.selection = selection

    def on_result(self, trial_id: str, t: float, vector: Sequence[float]) -> str:
        """Record ``vector`` at the highest rung ``t`` has reached, if new there; decide.

        Returns ``CONTINUE`` or ``STOP``. A trial already recorded at that rung (or below every
        rung) continues: its decision was made when it first got there.
        """
        for rung in reversed(self.rungs):
            if t < rung.milestone:
                continue
            if trial_id in rung.recorded:
                return CONTINUE
            return self._decide(rung, trial_id, tuple(float(v) for v in vector))
        return CONTINUE

    def _decide(self, rung: Rung, trial_id: str, vector: tuple[float, ...]) -> str:
        rung.recorded[trial_id] = vector
        n = len(rung.recorded)
        keep = math.floor(n / self.reduction_factor)
        if keep < 1:  # fewer than eta vectors: optimistic promotion
            return CONTINUE
        ids = list(rung.recorded)  # insertion order: ties go to the earlier trial
        order = selection_order(
            np.array(list(rung.recorded.values())), self.maximise, self.selection
        )
        promoted = {ids[i] for i in order[:keep]}
        return CONTINUE if trial_id in promoted else STOP

    def describe(self) -> str:
        return " | ".join(f"t={r.milestone:g}: {len(r.recorded)}" for r in self.rungs)
