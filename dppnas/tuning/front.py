"""The Pareto front of a finished (or partial) run, as rows and as a printed table.

``dppnas search`` prints the front of the run's :class:`~dppnas.pareto.ParetoArchive`
(``pareto.json``); :func:`load_run_archive` adds the Tune results it lacks (or rebuilds it
from them when the archive file is missing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from dppnas.pareto import Objective, ParetoArchive
from dppnas.pareto.objectives import is_fraction

log = logging.getLogger(__name__)


class Outcome(Protocol):
    """What a table row needs: a trial id, flattened metrics and the trial's config."""

    trial_id: str
    metrics: dict[str, Any]
    config: dict[str, Any]


def fmt_cell(value: Any, metric: str = "") -> str:
    """A table cell: accuracies with 4 decimals (``1.0000`` beside ``0.9792``), other floats
    to 4 significant digits, None empty."""
    if is_fraction(metric) and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, a dashed rule under the header."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


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
        + [fmt_cell(o.metrics.get(c), c) for c in columns[1:]]
        + ([describe(o.config.get("arch", {}))] if describe else [])
        for o in front
    ]
    if describe:
        columns.append("architecture")
    return text_table(columns, rows)


def completed(metrics: Mapping[str, Any]) -> bool:
    """Whether a trial's last result ends it: Tune marks it ``done`` (also when a scheduler
    stopped the trial), or it is ``final`` (the full budget; a trial restored from an older
    snapshot may lack ``done``). A trial cut short by Ctrl-C has neither."""
    return bool(metrics.get("done", False) or metrics.get("final", False))


def add_missing_results(archive: ParetoArchive, results: Iterable[Any]) -> ParetoArchive:
    """Add Tune ``Result`` objects of completed trials the archive does not hold yet.

    Errored trials are skipped, and so are trials that did not complete (:func:`completed`):
    one interrupted by Ctrl-C is resumed later, not archived. A result without ``final``
    (DESIGN section 3) did not reach its full budget."""
    from ray.tune.utils import flatten_dict

    for result in results:
        if getattr(result, "error", None) is not None:
            continue
        metrics = flatten_dict(dict(result.metrics or {}))
        trial_id = str(
            metrics.get("trial_id", result.path.rsplit("/", 1)[-1] if result.path else "?")
        )
        if trial_id in archive or not metrics or not completed(metrics):
            continue
        metrics = {k: v for k, v in metrics.items() if not k.startswith("config/")}
        final = bool(metrics.get("final", False))
        archive.add(trial_id, dict(result.config or {}), metrics, final=final, save=False)
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
