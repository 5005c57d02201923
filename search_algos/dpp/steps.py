"""DPP-Net's step planning as functions: observations in, the next step's ranked candidates out.

DPP-Net (Dong et al., ECCV 2018, Sec. 3.3), after PNAS (Liu et al., ECCV 2018):

1. Step 1 trains every root of the growth rule (:mod:`.growth`), or ``k0`` of them chosen on
   the cost objectives (non-dominated sorting, then crowding distance; at random without
   costs) when ``k0`` is smaller.
2. Each next step fits the accuracy surrogate (:mod:`.surrogate`) on every *final*
   ``(architecture, accuracy)`` seen so far and grows its parents by one step over all
   choices: with ``parents="step"`` (PNAS, DPP-Net) every architecture the previous step
   trained; with ``"front"`` (the default, ours) the ``k`` best of every architecture trained
   so far, ranked as the candidates are but on measured accuracy (:func:`beam`). It leaves
   out the architectures already suggested (by ``arch_key``; by default such a repeat grows
   on in its place, and too few candidates widen the beam to every trained architecture:
   :func:`grow`, not in the paper), predicts the accuracy of all candidates in one batched
   pass, costs them without training (:mod:`.costs`) and ranks them by NSGA-II on (predicted
   accuracy, costs) (:mod:`.selection`). The first ``k`` are trained; the rest of the order
   replaces a candidate whose trial errors.

Nothing here talks to Tune: :mod:`.searcher` is the adapter that hands the ranked candidates out
and feeds results back as :class:`Observation` s. The only state changed is the surrogate
(re-fitted), the cost source's caches and the RNG passed in.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from search_algos.dpp.growth import GrowthRule
from search_algos.dpp.history import StepRecord
from search_algos.dpp.selection import ParentRule, SelectionRule, candidate_order
from search_algos.dpp.surrogate import AccuracySurrogate, kendall_tau

logger = logging.getLogger(__name__)


@dataclass
class Observation:
    """A completed trial: its architecture, step, the objective values its result held, and
    whether the result was final (a scheduler-stopped trial's is not)."""

    arch: Hashable
    step: int
    values: dict[str, float]
    final: bool


@dataclass
class Step:
    """A step: candidates best first, their predicted accuracy (None in step 1), how many to
    train, and how far through them the searcher is."""

    depth: int
    queue: list[Hashable]
    predicted: list[float] | None
    target: int
    cursor: int = 0
    completed: list[Hashable] = field(default_factory=list)
    errored: int = 0
    started: float = field(default_factory=time.time)
    #: candidate -> the other encodings of its network met in this step (grown with it)
    aliases: dict[Hashable, list[Hashable]] = field(default_factory=dict)

    def kept(self) -> list[Hashable]:
        """The completed architectures in the step's order, each followed by its aliases
        (the next step's parents: every encoding of a trained network grows)."""
        done = set(self.completed)
        return [b for a in self.queue if a in done for b in (a, *self.aliases.get(a, ()))]


@dataclass(frozen=True)
class StepSettings:
    """What planning needs beyond the observations (the searcher's arguments)."""

    k: int
    k0: int | None
    selection: SelectionRule
    accuracy_metric: str
    cost_maximise: tuple[bool, ...]
    grow_through_repeats: bool = True
    parents: ParentRule = "front"


def training_set(
    observations: Sequence[Observation], rule: GrowthRule, accuracy_metric: str
) -> tuple[list[Hashable], list[float]]:
    """Every final observation with an accuracy (the latest per architecture), in a canonical
    order (by the tokens' choices), so equal observations fit equal surrogates."""
    seen: dict[Hashable, float] = {}
    for obs in observations:
        value = obs.values.get(accuracy_metric)
        if obs.final and value is not None and math.isfinite(value):
            seen[obs.arch] = value
    archs = sorted(seen, key=lambda a: tuple(str(choice) for _, choice in rule.tokens(a)))
    return archs, [seen[a] for a in archs]


def beam(
    archs: Sequence[Hashable],
    accuracies: Sequence[float],
    costs: Callable[[Sequence[Hashable]], np.ndarray] | None,
    settings: StepSettings,
) -> list[Hashable]:
    """The parents of the next step with ``parents="front"`` (ours): the first ``k`` of the
    trained ``archs`` ranked as the candidates are (:func:`.selection.candidate_order`), on
    their measured ``accuracies`` and the costs the candidates are ranked on.

    PNAS and DPP-Net grow the ``k`` architectures the previous step trained, whatever their
    measured accuracy. Ranking everything trained so far instead keeps growing the measured
    front and drops an architecture that the surrogate over-rated once trained. Measured on
    ``nb201-hw`` (log10 hypervolume regret at 100 evaluations, paired by seed): -0.14 on
    average on the 4 validation devices where it was chosen (se 0.03), -0.19 on the 6 report
    devices (docs/benchmarks.md).
    """
    cost_matrix = (
        costs(archs) if costs is not None and archs and settings.selection == "pareto" else None
    )
    order = candidate_order(accuracies, cost_matrix, settings.cost_maximise, settings.selection)
    return [archs[i] for i in order[: settings.k]]


def new_candidates(
    archs: Sequence[Hashable], key: Callable[[Hashable], Hashable], suggested: set[Hashable]
) -> tuple[list[Hashable], dict[Hashable, list[Hashable]], list[Hashable]]:
    """``archs`` without those whose key was suggested before or appeared earlier; the later
    encodings of each kept candidate's network (its aliases); and the architectures whose
    network was suggested before (repeats)."""
    out: list[Hashable] = []
    first: dict[Hashable, Hashable] = {}
    aliases: dict[Hashable, list[Hashable]] = {}
    repeats: list[Hashable] = []
    for arch in archs:
        k = key(arch)
        if k in suggested:
            repeats.append(arch)
        elif k in first:
            aliases.setdefault(first[k], []).append(arch)
        else:
            first[k] = arch
            out.append(arch)
    return out, aliases, repeats


def grow(
    rule: GrowthRule,
    parents: Sequence[Hashable],
    depth: int,
    key: Callable[[Hashable], Hashable],
    suggested: set[Hashable],
    through_repeats: bool = True,
) -> tuple[list[Hashable], dict[Hashable, list[Hashable]]]:
    """Step ``depth``'s new candidates (children of ``parents``) and their aliases.

    With ``through_repeats`` (default), a child that is another encoding of a network
    suggested before (an NB201 cell whose new edge is dead, ...) is no candidate but grows on
    in its place at the next depth, so each step reaches the networks one operation away
    from its parents' networks. Without it (the paper's form), such children are dropped
    (on ``nb201`` most children of a sparse cell are then lost).
    """
    out: list[Hashable] = []
    aliases: dict[Hashable, list[Hashable]] = {}
    seen = set(suggested)
    grown: set[Hashable] = set()
    frontier, d = list(parents), depth
    while frontier and d <= rule.max_depth:
        new, more, repeats = new_candidates(rule.expand(frontier, d), key, seen)
        out += new
        seen |= {key(a) for a in new}
        for arch, others in more.items():
            aliases.setdefault(arch, []).extend(others)
        if not through_repeats:
            break
        frontier = [a for a in repeats if a not in grown and key(a) in suggested]
        grown.update(frontier)
        d += 1
    return out, aliases


def plan_step(
    depth: int,
    *,
    rule: GrowthRule,
    parents: Sequence[Hashable],
    observations: Sequence[Observation],
    suggested: set[Hashable],
    key: Callable[[Hashable], Hashable],
    surrogate: AccuracySurrogate,
    costs: Callable[[Sequence[Hashable]], np.ndarray] | None,
    settings: StepSettings,
    rng: np.random.Generator,
) -> tuple[Step, StepRecord]:
    """Step ``depth``'s candidates in selection order, and its record.

    ``parents`` are the previous step's kept architectures (ignored at depth 1, and with
    ``settings.parents == "front"``, where :func:`beam` chooses them from ``observations``);
    ``suggested`` the keys of every architecture suggested so far; ``costs(archs)`` the cost
    matrix (None without cost objectives).
    """
    start = time.perf_counter()
    fit_seconds = 0.0
    predicted = None
    if depth == 1:
        candidates, aliases, _ = new_candidates(rule.roots(), key, suggested)
        target = len(candidates) if settings.k0 is None else min(settings.k0, len(candidates))
        if target < len(candidates):
            if costs is not None:
                order = candidate_order(None, costs(candidates), settings.cost_maximise)
            else:
                order = rng.permutation(len(candidates))
        else:
            order = np.arange(len(candidates))
    else:
        fit_start = time.perf_counter()
        archs, accuracies = training_set(observations, rule, settings.accuracy_metric)
        if archs:
            surrogate.fit([rule.tokens(a) for a in archs], accuracies)
        else:
            logger.warning("DPP-Net: no final result to fit the surrogate on; costs alone rank")
        fit_seconds = time.perf_counter() - fit_start
        if settings.parents == "front" and archs:
            parents = beam(archs, accuracies, costs, settings)
        candidates, aliases = grow(
            rule, parents, depth, key, suggested, settings.grow_through_repeats
        )
        if settings.grow_through_repeats and len(candidates) < settings.k:
            # the survivors have too few children (full cells): widen the beam to every
            # architecture trained so far rather than leave the budget unspent
            trained = list(dict.fromkeys(o.arch for o in observations))
            more, more_aliases = grow(
                rule, trained, depth, key, suggested | {key(a) for a in candidates}
            )
            candidates += more
            aliases |= more_aliases
        target = min(settings.k, len(candidates))
        if surrogate.fitted and candidates:
            predicted = surrogate.predict([rule.tokens(a) for a in candidates])
        cost_matrix = (
            costs(candidates) if costs is not None and settings.selection == "pareto" else None
        )
        order = (
            candidate_order(predicted, cost_matrix, settings.cost_maximise, settings.selection)
            if candidates
            else np.arange(0)
        )
    queue = [candidates[i] for i in order]
    ranked = None if predicted is None else [float(predicted[i]) for i in order]
    record = StepRecord(
        step=depth,
        candidates=len(candidates),
        selected=[rule.describe(a) for a in queue[:target]],
        predicted=None if ranked is None else ranked[:target],
        scoring_seconds=time.perf_counter() - start,
        fit_seconds=fit_seconds,
    )
    return Step(depth, queue, ranked, target, aliases=aliases), record


def step_kendall_tau(
    step: Step, observations: Sequence[Observation], accuracy_metric: str
) -> float | None:
    """Kendall's tau of the surrogate's predictions against the step's final accuracies
    (None before step 2 or with fewer than two)."""
    if step.predicted is None:
        return None
    predicted = dict(zip(step.queue, step.predicted, strict=True))
    pairs = [
        (predicted[obs.arch], obs.values[accuracy_metric])
        for obs in observations
        if obs.step == step.depth and obs.final and accuracy_metric in obs.values
    ]
    if len(pairs) < 2:
        return None
    tau = kendall_tau([p for p, _ in pairs], [m for _, m in pairs])
    return None if math.isnan(tau) else tau
