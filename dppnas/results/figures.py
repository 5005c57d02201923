"""Scatter plots of a run on a pair of objectives: every trial, the front highlighted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dppnas.pareto import ArchiveEntry, ParetoArchive


def pair_figure(
    archive: ParetoArchive,
    x: int,
    y: int,
    knee: ArchiveEntry | None = None,
    references: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Figure:
    """Objectives ``x`` and ``y`` (indices): dominated grey, front blue, knee as a red star,
    handcrafted ``references`` (name, flattened metrics) as labelled black crosses.

    With two objectives the front is joined by a line; with more, front points of the full
    objective set need not be non-dominated on this pair, so they are only marked.
    """
    from matplotlib.figure import Figure

    objectives = archive.objectives
    xo, yo = objectives[x], objectives[y]
    fig = Figure(figsize=(5.5, 4.0), dpi=100)
    ax = fig.add_subplot()

    def xy(entries: list[ArchiveEntry]) -> tuple[list[float], list[float]]:
        return [e.metrics[xo.metric] for e in entries], [e.metrics[yo.metric] for e in entries]

    front = archive.front()
    dominated = [e for e in archive.entries if not archive.on_front(e.trial_id)]
    ax.scatter(*xy(dominated), color="0.6", s=18, label=f"dominated ({len(dominated)})")
    fx, fy = xy(front)
    if len(objectives) == 2 and fx:
        ax.plot(*zip(*sorted(zip(fx, fy, strict=True)), strict=True), color="tab:blue", alpha=0.5)
    ax.scatter(fx, fy, color="tab:blue", s=30, zorder=3, label=f"front ({len(fx)})")
    if knee is not None:
        kx, ky = xy([knee])
        ax.scatter(kx, ky, marker="*", color="tab:red", s=160, zorder=4, label="knee")
    for name, metrics in references:
        if xo.metric in metrics and yo.metric in metrics:
            rx, ry = metrics[xo.metric], metrics[yo.metric]
            ax.scatter([rx], [ry], marker="X", color="black", s=70, zorder=5)
            ax.annotate(name, (rx, ry), textcoords="offset points", xytext=(5, 5), fontsize=7)
    if references:
        ax.scatter([], [], marker="X", color="black", label="references (same recipe)")
    ax.set_xlabel(f"{xo.metric} ({xo.mode})")
    ax.set_ylabel(f"{yo.metric} ({yo.mode})")
    ax.set_title(f"{len(archive.entries)} final trials, hypervolume {archive.hypervolume():.4g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig
