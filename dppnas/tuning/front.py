"""The Pareto front of a finished (or partial) run, as rows and as a printed table.

``dppnas search`` prints the front of the run's :class:`~dppnas.pareto.ParetoArchive`
(``pareto.json``); :func:`archive_from_results` rebuilds one from Tune's results when the
archive file is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dppnas.pareto import (
    Objective,
    ParetoArchive,
    has_objectives,
    non_dominated_mask,
    objective_matrix,
)

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What a table row needs: a trial id, flattened metrics and the trial's config."""

    trial_id: str
    metrics: dict[str, Any]
    config: dict[str, Any]


@dataclass
class TrialOutcome:
    """The last result of one trial, flattened (``latency/local-cpu``), with its config."""

    trial_id: str
    metrics: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return bool(self.metrics.get("final", False))


def pareto_front(
    outcomes: Iterable[TrialOutcome], objectives: Sequence[Objective]
) -> list[TrialOutcome]:
    """Non-dominated final outcomes over ``objectives``, best first by the first objective."""
    candidates = [o for o in outcomes if o.final and has_objectives(o.metrics, objectives)]
    if not candidates:
        return []
    mask = non_dominated_mask(
        objective_matrix([c.metrics for c in candidates], objectives), objectives
    )
    front = [c for c, keep in zip(candidates, mask, strict=True) if keep]
    first = objectives[0]
    front.sort(key=lambda o: o.metrics[first.metric], reverse=first.mode == "max")
    return front


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(
    front: Sequence[Outcome],
    objectives: Sequence[Objective],
    describe: Any = None,
    extra: Sequence[str] = ("params", "flops"),
) -> str:
    """A plain-text table: trial id, each objective, extra metrics, architecture summary."""
    columns = ["trial"] + [o.metric for o in objectives]
    columns += [m for m in extra if m not in columns]
    rows = [
        [o.trial_id]
        + [_fmt(o.metrics.get(c)) for c in columns[1:]]
        + ([describe(o.config.get("arch", {}))] if describe else [])
        for o in front
    ]
    if describe:
        columns.append("architecture")
    widths = [
        max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)
    ]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def outcomes_from_results(results: Iterable[Any]) -> list[TrialOutcome]:
    """Turn Tune ``Result`` objects (a ``ResultGrid``) into flattened outcomes."""
    from ray.tune.utils import flatten_dict

    outcomes = []
    for result in results:
        metrics = flatten_dict(dict(result.metrics or {}))
        trial_id = str(
            metrics.get("trial_id", result.path.rsplit("/", 1)[-1] if result.path else "?")
        )
        outcomes.append(TrialOutcome(trial_id, metrics, dict(result.config or {})))
    return outcomes


def best_by(outcomes: Iterable[TrialOutcome], metric: str, mode: str) -> Mapping[str, Any] | None:
    """The outcome with the best ``metric`` (used for summaries)."""
    pool = [o for o in outcomes if o.final and metric in o.metrics]
    if not pool:
        return None
    return (max if mode == "max" else min)(pool, key=lambda o: o.metrics[metric]).metrics


def add_missing_results(archive: ParetoArchive, results: Iterable[Any]) -> ParetoArchive:
    """Add Tune ``Result`` objects the archive does not hold yet (errored trials skipped)."""
    for result in results:
        if getattr(result, "error", None) is not None:
            continue
        (outcome,) = outcomes_from_results([result])
        if outcome.trial_id in archive or not outcome.metrics:
            continue
        metrics = {k: v for k, v in outcome.metrics.items() if not k.startswith("config/")}
        final = bool(metrics.get("final", True))
        archive.add(outcome.trial_id, outcome.config, metrics, final=final, save=False)
    return archive


def load_run_archive(
    archive_path: Path, objectives: Sequence[Objective], results: Iterable[Any] = ()
) -> ParetoArchive:
    """The run's saved archive plus any of Tune's ``results`` it lacks (or those alone when
    the file is missing or unreadable); nothing is written back."""
    archive = ParetoArchive(objectives)
    if archive_path.exists():
        try:
            archive = ParetoArchive(objectives, path=archive_path)
            archive.path = None  # a read-only view: do not rewrite the run's file
        except Exception as err:  # a broken or foreign file: fall back to Tune's results
            log.warning("%s; rebuilding the front from Tune's results", err)
    return add_missing_results(archive, results)
