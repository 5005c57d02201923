"""A scatter of the archive on a pair of objectives: the front in colour, the rest grey."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dppnas.pareto.archive import ArchiveEntry, ParetoArchive


def front_figure(
    archive: ParetoArchive,
    title: str = "Pareto front",
    x: int = 0,
    y: int = 1,
    partial: bool = True,
    knee: ArchiveEntry | None = None,
    references: Sequence[tuple[str, Mapping[str, Any]]] = (),
) -> Figure:
    """A matplotlib figure (Agg, no display needed): final results on objectives ``x``, ``y``.

    Dominated results are grey, the front blue, results of trials stopped early hollow grey
    (``partial``), the ``knee`` ringed in red, handcrafted ``references`` (name, flattened metrics)
    labelled black crosses. With two objectives the front is joined by a line; with more, front
    points of the full objective set need not be non-dominated on this pair, so they are only
    marked. With one objective the second axis is the trial index.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0), dpi=100)
    ax = fig.add_subplot()
    objectives = archive.objectives
    xo = objectives[x]
    yo = objectives[y] if len(objectives) > y else None

    def xy(entries: Sequence[ArchiveEntry]) -> tuple[list[Any], list[Any]]:
        xs = [e.metrics.get(xo.metric) for e in entries]
        ys = [e.metrics.get(yo.metric) if yo else i for i, e in enumerate(entries)]
        pairs = [(a, b) for a, b in zip(xs, ys, strict=True) if _number(a) and _number(b)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    if partial:
        px, py = xy(archive.partial)
        ax.scatter(
            px, py, facecolors="none", edgecolors="0.75", s=18, label=f"stopped early ({len(px)})"
        )
    dx, dy = xy([e for e in archive.entries if not archive.on_front(e.trial_id)])
    ax.scatter(dx, dy, color="0.6", s=18, label=f"dominated ({len(dx)})")
    fx, fy = xy(archive.front())
    if fx and len(objectives) <= 2:
        ax.plot(*zip(*sorted(zip(fx, fy, strict=True)), strict=True), color="tab:blue", alpha=0.5)
    ax.scatter(fx, fy, color="tab:blue", s=28, zorder=3, label=f"front ({len(fx)})")
    if knee is not None:
        kx, ky = xy([knee])
        # a ring around the point, which stays visible inside it
        ax.scatter(
            kx,
            ky,
            marker="o",
            s=150,
            facecolors="none",
            edgecolors="tab:red",
            linewidths=1.5,
            zorder=4,
            label="knee",
        )
    for name, metrics in references:
        rx, ry = metrics.get(xo.metric), metrics.get(yo.metric) if yo else None
        if _number(rx) and _number(ry):
            ax.scatter([rx], [ry], marker="X", color="black", s=70, zorder=5)
            ax.annotate(name, (rx, ry), textcoords="offset points", xytext=(5, 5), fontsize=7)
    if references:
        ax.scatter([], [], marker="X", color="black", label="references (same recipe)")
    ax.set_xlabel(xo.label)
    ax.set_ylabel(yo.label if yo else "trial")
    ax.set_title(f"{title}: hypervolume {archive.hypervolume():.4g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
