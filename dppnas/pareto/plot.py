"""A scatter of the archive on its first two objectives: the front in colour, the rest grey."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from dppnas.pareto.archive import ParetoArchive


def front_figure(archive: ParetoArchive, title: str = "Pareto front") -> Figure:
    """A matplotlib figure (Agg, no display needed): final results on the first two objectives.

    Front points are joined by a line, dominated ones are grey, results of trials stopped
    early (partial) are hollow grey. With one objective the second axis is the trial index.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.0), dpi=100)
    ax = fig.add_subplot()
    objectives = archive.objectives
    x_name = objectives[0].metric
    y_name = objectives[1].metric if len(objectives) > 1 else None

    def xy(entries):
        xs = [e.metrics.get(x_name) for e in entries]
        ys = [e.metrics.get(y_name) if y_name else i for i, e in enumerate(entries)]
        pairs = [(a, b) for a, b in zip(xs, ys, strict=True) if _number(a) and _number(b)]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    front = archive.front()
    dominated = [e for e in archive.entries if not archive.on_front(e.trial_id)]
    px, py = xy(archive.partial)
    ax.scatter(
        px, py, facecolors="none", edgecolors="0.75", s=18, label=f"stopped early ({len(px)})"
    )
    dx, dy = xy(dominated)
    ax.scatter(dx, dy, color="0.6", s=18, label=f"dominated ({len(dx)})")
    fx, fy = xy(front)
    if fx:
        ordered = sorted(zip(fx, fy, strict=True))
        ax.plot(*zip(*ordered, strict=True), color="tab:blue", lw=1, alpha=0.5)
    ax.scatter(fx, fy, color="tab:blue", s=28, zorder=3, label=f"front ({len(fx)})")
    ax.set_xlabel(f"{x_name} ({objectives[0].mode})")
    ax.set_ylabel(f"{y_name} ({objectives[1].mode})" if y_name else "trial")
    ax.set_title(f"{title}: hypervolume {archive.hypervolume():.4g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
