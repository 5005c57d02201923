"""``dppnas report``: the front table (stdout, ``front.csv``), knee and budget picks, scatter
PNGs and a self-contained ``report.html`` (PNGs embedded as base64), from ``pareto.json``."""

from __future__ import annotations

import base64
import csv
import html
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dppnas.errors import DppnasError
from dppnas.pareto import ArchiveEntry, Objective
from dppnas.pareto.plot import front_figure
from dppnas.results.run import RunResults
from dppnas.results.summary import BudgetPick, budget_picks, knee_index
from dppnas.tuning.front import fmt_cell, text_table

EXTRA_COLUMNS = ("params", "flops", "test_accuracy")


@dataclass
class Report:
    """What ``dppnas report`` found: the front, its knee, budget picks and files written."""

    front: list[ArchiveEntry]
    knee: ArchiveEntry | None
    budgets: list[tuple[BudgetPick, ArchiveEntry | None]]
    plots: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def accuracy_objective(objectives: list[Objective]) -> Objective:
    """The objective budget picks maximise: the first ``max`` one (else the first)."""
    return next((o for o in objectives if o.mode == "max"), objectives[0])


def _describe(entry: ArchiveEntry) -> str:
    from dppnas.spaces import make_space

    try:
        return make_space(entry.config["space"]).describe(entry.config["arch"])
    except Exception:  # an old or foreign config: the table still has the numbers
        return ""


def front_rows(run: RunResults, knee: ArchiveEntry | None) -> tuple[list[str], list[list[str]]]:
    """Columns and rows of the front table (rank 0 = best on the first objective)."""
    metrics = [o.metric for o in run.archive.objectives]
    metrics += [c for c in EXTRA_COLUMNS if c not in metrics]
    columns = ["rank", "trial", *metrics, "knee", "architecture"]
    rows = [
        [str(rank), e.trial_id]
        + [fmt_cell(e.metrics.get(m), m) for m in metrics]
        + ["*" if e is knee else "", _describe(e)]
        for rank, e in enumerate(run.front())
    ]
    return columns, rows


def summarise(run: RunResults) -> Report:
    """Knee of the front and, per cost objective, the best accuracy under front quantiles."""
    archive = run.archive
    objectives = archive.objectives
    front = run.front()
    if not front:
        return Report(front, None, [])
    maximise = [o.mode == "max" for o in objectives]
    points = [[e.metrics[o.metric] for o in objectives] for e in front]
    knee = front[knee_index(points, maximise)]
    accuracy = accuracy_objective(objectives)
    costs = [o for o in objectives if o.mode == "min" and o is not accuracy]
    entries = archive.entries
    picks = budget_picks(
        [e.metrics[accuracy.metric] for e in entries],
        {c.metric: [e.metrics[c.metric] for e in entries] for c in costs},
        {c.metric: [e.metrics[c.metric] for e in front] for c in costs},
    )
    budgets = [(p, None if p.index is None else entries[p.index]) for p in picks]
    return Report(front, knee, budgets)


def write_report(run: RunResults, out: Path, with_references: bool = False) -> tuple[Report, str]:
    """Write ``front.csv``, ``front_<x>_vs_<y>.png`` per objective pair and ``report.html``
    into ``out``; returns the report and the text printed by the CLI. ``with_references``
    trains the space's handcrafted references with the run's recipe (cached) and shows them."""
    out.mkdir(parents=True, exist_ok=True)
    report = summarise(run)
    refs: list[tuple[str, dict[str, Any]]] = []
    if with_references:
        from dppnas.results.references import references

        if not run.archive.entries:
            raise DppnasError(
                f"{run.path}: --with-references needs a finished trial to take the recipe from"
            )
        refs = references(run.archive.entries[0].config, out)
    columns, rows = front_rows(run, report.knee)
    csv_path = out / "front.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    report.files.append(csv_path)

    objectives = run.archive.objectives
    for x, y in itertools.combinations(range(len(objectives)), 2):
        names = [_slug(objectives[i].metric) for i in (x, y)]
        path = out / f"front_{names[0]}_vs_{names[1]}.png"
        title = f"{len(run.archive.entries)} final trials"
        figure = front_figure(
            run.archive, title, x, y, partial=False, knee=report.knee, references=refs
        )
        figure.savefig(path)
        report.plots.append(path)

    accuracy = accuracy_objective(objectives).metric
    lines = [_budget_line(p, e, accuracy) for p, e in report.budgets]
    lines += [_reference_line(name, metrics, objectives) for name, metrics in refs]
    table = text_table(columns, rows)
    knee = "none (empty front)"
    if report.knee is not None:
        knee = f"trial {report.knee.trial_id} (rank {report.front.index(report.knee)})"
    text = "\n".join(
        [
            f"{run.path}: {len(run.archive.entries)} final trials, "
            f"{len(run.archive.partial)} partial, front of {len(report.front)}, "
            f"hypervolume {run.archive.hypervolume():.4g}",
            table,
            f"knee: {knee}",
            *lines,
        ]
    )
    html_path = out / "report.html"
    html_path.write_text(_html(run, table, knee, lines, report.plots))
    report.files += [*report.plots, html_path]
    return report, text


def _budget_line(pick: BudgetPick, entry: ArchiveEntry | None, accuracy: str) -> str:
    head = f"budget {pick.cost} <= {pick.budget:.4g} (front q{int(pick.quantile * 100)}): "
    if entry is None:
        return head + "nothing fits"
    return (
        f"{head}trial {entry.trial_id}, {accuracy} {fmt_cell(entry.metrics[accuracy], accuracy)}, "
        f"{pick.cost} {fmt_cell(entry.metrics[pick.cost])}"
    )


def _reference_line(name: str, metrics: dict[str, Any], objectives: list[Objective]) -> str:
    values = ", ".join(
        f"{o.metric} {fmt_cell(metrics.get(o.metric), o.metric)}" for o in objectives
    )
    return f"reference {name} (same recipe): {values}, params {fmt_cell(metrics.get('params'))}"


def _slug(metric: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in metric)


def _html(run: RunResults, table: str, knee: str, budgets: list[str], plots: list[Path]) -> str:
    images = "\n".join(
        f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.name)}'
        "</figcaption></figure>"
        for p in plots
    )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in budgets)
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>dppnas report: {html.escape(run.path.name)}</title></head><body>\n"
        f"<h1>{html.escape(str(run.path))}</h1>\n"
        f"<p>{len(run.archive.entries)} final trials; hypervolume "
        f"{run.archive.hypervolume():.4g}</p>\n"
        f"<h2>Pareto front</h2>\n<pre>{html.escape(table)}</pre>\n"
        f"<p>knee: {html.escape(knee)}</p>\n<h2>Budgets</h2>\n<ul>{items}</ul>\n"
        f"<h2>Plots</h2>\n{images}\n</body></html>\n"
    )
