"""Scoring ``dppnas bench compare``'s runs against the table's true front, and its outputs
(the results JSON, whose keys are a contract; the printout; the PNG).

Only trials that reached the full budget (``final``) count as evaluated architectures: a
trial stopped early by a scheduler never showed its final accuracy. After each completed
trial the hypervolume of the evaluated front is divided by the true front's (``hv_ratio``);
epochs are counted over every trial, stopped ones included (``epochs_used``, ``epochs_to``).

Because with a worst-case reference point even random search reaches 0.92-0.99 of the true
hypervolume, searchers are also compared on ``log_hv_regret`` = log10(1 - HV / HV_true) per
seed (floored at :data:`REGRET_FLOOR` when the front is found exactly) and ``front_found``,
the share of the true front's architectures evaluated (by canonical key: a table entry is one
architecture). The objectives are any of the table's metrics (``objectives``; default: the
table's declared pair), each with the table's declared reference value.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.atomic import atomic_writer
from dppnas.bench.table import BenchmarkTable

THRESHOLDS = ("0.9", "0.95", "0.99")
#: log10 hypervolume regret of a run that found the true front's hypervolume exactly
REGRET_FLOOR = -6.0


def log_regret(hv_ratio: float) -> float:
    """log10(1 - ``hv_ratio``), floored at :data:`REGRET_FLOOR` (0: nothing dominated)."""
    return max(REGRET_FLOOR, math.log10(max(1.0 - hv_ratio, 10.0**REGRET_FLOOR)))


@dataclass
class RunTrace:
    """One searcher x seed run: per completed trial, its architecture, epochs and finality."""

    archs: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    final: list[bool] = field(default_factory=list)
    errored: int = 0
    #: DPP-Net: where its costs of untrained candidates came from, and the models per metric
    costs: str | None = None
    cost_models: dict[str, str] = field(default_factory=dict)


def score_trace(table: BenchmarkTable, trace: RunTrace, budget: int) -> dict[str, Any]:
    """hv_ratio / IGD+ at the end, the hv-ratio curve per evaluation, epochs to thresholds."""
    from dppnas.pareto import ParetoArchive

    archive = ParetoArchive(table.objectives)  # keeps the front; no file
    front = {e.index for e in table.true_front_entries()}
    found: set[int] = set()
    curve: list[float] = []
    epochs_at: list[int] = []
    total_epochs = 0
    for i, (arch, epochs, final) in enumerate(
        zip(trace.archs, trace.epochs, trace.final, strict=True)
    ):
        total_epochs += epochs
        if final:
            entry = table.lookup(arch)
            archive.add(str(i), {"arch": arch}, entry.metrics(), final=True)
            found.add(entry.index)
        curve.append(archive.hypervolume() / table.true_front_hv)
        epochs_at.append(total_epochs)
    reach = {}
    for t in THRESHOLDS:
        hit = next((i for i, r in enumerate(curve) if r >= float(t) - 1e-12), None)
        reach[t] = (None, None) if hit is None else (hit + 1, epochs_at[hit])
    padded = curve + [curve[-1] if curve else 0.0] * (budget - len(curve))
    return {
        "hv_ratio": curve[-1] if curve else 0.0,
        "log_hv_regret": log_regret(curve[-1] if curve else 0.0),
        "front_found": len(found & front) / len(front),
        "igd_plus": table.igd_plus(archive.points(front_only=True)),
        "curve": padded,
        "evals_to": {t: reach[t][0] for t in THRESHOLDS},
        "epochs_to": {t: reach[t][1] for t in THRESHOLDS},
        "epochs_used": total_epochs,
        "evaluated": len(archive.entries),
        "errored": trace.errored,
        "costs": trace.costs,
        "cost_models": trace.cost_models,
    }


def _median_or_none(values: list[float | None]) -> float | None:
    """Median counting an unreached threshold as +inf; None when the median is unreached."""
    finite = sorted(float("inf") if v is None else float(v) for v in values)
    median = statistics.median(finite) if finite else float("inf")
    return None if median == float("inf") else median


def summarise(
    table: BenchmarkTable, scores: dict[str, list[dict[str, Any]]], budget: int, scheduler: str
) -> dict[str, Any]:
    """The results JSON of ``dppnas bench compare`` (keys are a contract)."""
    results = {}
    for name, runs in scores.items():
        curves = np.array([r["curve"] for r in runs])
        results[name] = {
            "hv_ratio": [r["hv_ratio"] for r in runs],
            "igd_plus": [r["igd_plus"] for r in runs],
            "hv_curve": [[i + 1, float(np.median(curves[:, i]))] for i in range(curves.shape[1])],
            "evals_to": {t: _median_or_none([r["evals_to"][t] for r in runs]) for t in THRESHOLDS},
            "epochs_to": {
                t: _median_or_none([r["epochs_to"][t] for r in runs]) for t in THRESHOLDS
            },
            "epochs_used": [r["epochs_used"] for r in runs],
            "log_hv_regret": [r["log_hv_regret"] for r in runs],
            "front_found": [r["front_found"] for r in runs],
            # DPP-Net: costs of untrained candidates (an oracle says so), models per seed
            **(
                {"costs": runs[0]["costs"], "cost_models": [r["cost_models"] for r in runs]}
                if runs[0].get("costs")
                else {}
            ),
            # per evaluation: [evaluations, 25th percentile, median, 75th percentile]
            "log_hv_regret_curve": [
                [i + 1, *np.percentile([log_regret(v) for v in curves[:, i]], [25, 50, 75])]
                for i in range(curves.shape[1])
            ],
        }
    return {
        "table": table.name,
        "objectives": [o.model_dump() for o in table.objectives],
        "reference_point": table.reference_point,
        "true_front_hv": table.true_front_hv,
        "budget": budget,
        "scheduler": scheduler,
        "results": results,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Median and IQR of hv_ratio, log10 hv regret and IGD+ per searcher, the share of the
    true front found, and evaluations/epochs to 0.95."""
    objectives = ", ".join(
        f"{o['metric']} ({o['mode']}, ref {o['ref']:.6g})" for o in summary["objectives"]
    )
    lines = [
        f"table {summary['table']}  budget {summary['budget']}  scheduler {summary['scheduler']}  "
        f"true-front hv {summary['true_front_hv']:.5g}",
        f"objectives: {objectives}",
        f"reference point: {summary['reference_point']}",
        f"{'searcher':<10}{'hv_ratio med':>13}{'IQR':>17}{'log regret med':>15}{'IQR':>17}"
        f"{'front found':>12}{'IGD+ med':>10}{'evals->0.95':>12}{'epochs->0.95':>13}"
        f"{'epochs used':>12}",
    ]
    for name, r in summary["results"].items():
        q1, med, q3 = np.percentile(r["hv_ratio"], [25, 50, 75])
        igd = float(np.median(r["igd_plus"]))
        ev, ep = r["evals_to"]["0.95"], r["epochs_to"]["0.95"]
        g1, gm, g3 = np.percentile(r["log_hv_regret"], [25, 50, 75])
        found = float(np.median(r["front_found"]))
        lines.append(
            f"{name:<10}{med:>13.4f}{f'[{q1:.4f}, {q3:.4f}]':>17}{gm:>15.3f}"
            f"{f'[{g1:.3f}, {g3:.3f}]':>17}{found:>12.3f}{igd:>10.4f}"
            f"{'-' if ev is None else f'{ev:.0f}':>12}{'-' if ep is None else f'{ep:.0f}':>13}"
            f"{np.median(r['epochs_used']):>12.0f}"
        )
    lines += [
        f"{name}: costs of untrained candidates: {r['costs']}"
        for name, r in summary["results"].items()
        if r.get("costs")
    ]
    return "\n".join(lines)


def plot_curves(summary: dict[str, Any], path: Path) -> None:
    """PNG: median hypervolume ratio (left) and median log10 hypervolume regret with its
    interquartile band (right) against evaluations, one line per searcher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for name, r in summary["results"].items():
        curve = np.array(r["hv_curve"])
        (line,) = ax.plot(curve[:, 0], curve[:, 1], label=name)
        regret = np.array(r["log_hv_regret_curve"])
        bx.plot(regret[:, 0], regret[:, 2], color=line.get_color(), label=name)
        bx.fill_between(regret[:, 0], regret[:, 1], regret[:, 3], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("evaluations (completed trials)")
    ax.set_ylabel("hypervolume ratio (median over seeds)")
    ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
    bx.set_xlabel("evaluations (completed trials)")
    bx.set_ylabel("log10(1 - HV / HV_true): median, IQR band")
    metrics = ", ".join(o["metric"] for o in summary["objectives"])
    fig.suptitle(f"{summary['table']} ({summary['scheduler']}): {metrics}")
    for axis in (ax, bx):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_json_atomic(path: Path, data: Any) -> None:
    with atomic_writer(path) as handle:
        json.dump(data, handle, indent=1)
