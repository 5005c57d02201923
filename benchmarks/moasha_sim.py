"""MO-ASHA against FIFO on a table, simulated offline: random search, one trial at a time.

The rung decisions are the scheduler's own (:class:`dppnas.tuning.rungs.Rungs`, what
:class:`~dppnas.tuning.MOASHA` calls inside Tune); trials replay the table's per-epoch metrics,
so a seed takes milliseconds and many reduction factors can be compared. It separates the
scheduler from the sampler: ``--sampling decisions`` draws every decision of the space's Tune
domains independently (what Tune's BasicVariantGenerator does in ``dppnas bench compare``),
``--sampling uniform`` draws the table's architectures uniformly.

Per setting: median epochs (all trials, stopped ones included) until the hypervolume ratio of
the full-budget trials reaches 0.95 (over the seeds that reach it), how many seeds reach it,
the median final ratio and epochs used; the last line is the MO-ASHA / FIFO epochs ratio of
the first ``--eta``.

``--kind promotion`` replays instead the promotion type of asynchronous successive halving
(Li et al. 2020, Algorithm 2; not in dppnas's scheduler, which stops like Tune's ASHA): a
trial below its rung's top ``1/eta`` is paused, not stopped, and whenever a worker is free the
best not-yet-promoted trial in the top ``floor(n / eta)`` of the highest rung is resumed, else
a new architecture is drawn. It measures what pausing would gain on a table.

    python benchmarks/moasha_sim.py [--table fashion-dpp] [--seeds 20] [--sampling uniform]
        [--selection nsga2|epsnet] [--grace 1] [--oracle] [--kind stop|promotion]
"""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

import numpy as np

from dppnas.bench.table import BenchmarkTable, TableEntry, load_table
from dppnas.pareto.selection import selection_order
from dppnas.tuning.rungs import STOP, Rungs, rung_milestones

TARGET = 0.95


def sample(table: BenchmarkTable, n: int, how: str, rng: np.random.Generator) -> list[TableEntry]:
    """``n`` architectures of ``table``, with replacement (as random search draws them)."""
    if how == "uniform":
        return [table.entries[i] for i in rng.integers(0, len(table.entries), n)]
    decisions = table.space.decisions
    return [
        table.lookup({d.name: d.choices[rng.integers(len(d.choices))] for d in decisions})
        for _ in range(n)
    ]


def simulate(
    table: BenchmarkTable,
    entries: list[TableEntry],
    eta: float | None,
    oracle: bool = False,
    selection: str = "nsga2",
    grace: int = 1,
) -> tuple[int | None, float, int]:
    """(epochs until the ratio reaches TARGET or None, final ratio, epochs used); ``eta``
    None = FIFO (every trial trained to the full budget). ``oracle``: the rungs see each
    trial's full-budget metrics instead of its current ones (perfect rung decisions: a bound
    on what any ranking at the rungs can achieve with these samples)."""
    max_t = table.epochs
    rungs = None
    if eta is not None:
        rungs = Rungs(rung_milestones(grace, eta, max_t), table.maximise, eta, selection)
    metrics = [o.metric for o in table.objectives]
    done: list[TableEntry] = []
    epochs, reached, ratio = 0, None, 0.0
    for i, entry in enumerate(entries):
        for epoch in range(1, max_t + 1):
            epochs += 1
            if epoch == max_t:
                done.append(entry)
                ratio = table.hypervolume(table.points(done)) / table.true_front_hv
                if reached is None and ratio >= TARGET:
                    reached = epochs
                break
            vector = _vector(entry, max_t if oracle else epoch, metrics)
            if rungs is not None and rungs.on_result(f"t{i}", epoch, vector) == STOP:
                break
    return reached, ratio, epochs


def _vector(entry: TableEntry, epoch: int, metrics: list[str]) -> tuple[float, ...]:
    """``entry``'s objective values after ``epoch`` epochs, in ``metrics`` order."""
    values = entry.metrics(epoch)
    return tuple(values[m] for m in metrics)


def simulate_promotion(
    table: BenchmarkTable,
    entries: list[TableEntry],
    eta: float,
    oracle: bool = False,
    selection: str = "nsga2",
    grace: int = 1,
) -> tuple[int | None, float, int]:
    """:func:`simulate` for promotion-type successive halving (one worker): draw ``entries``
    in order, pausing at the rungs, and resume the best promotable trial first."""
    max_t = table.epochs
    levels = [int(m) for m in rung_milestones(grace, eta, max_t)] + [max_t]
    metrics = [o.metric for o in table.objectives]
    recorded: list[dict[int, tuple[float, ...]]] = [{} for _ in levels[:-1]]
    promoted: list[set[int]] = [set() for _ in levels[:-1]]
    done: list[TableEntry] = []
    epochs, reached, ratio, drawn = 0, None, 0.0, 0

    def record(i: int, level: int) -> None:
        recorded[level][i] = _vector(entries[i], max_t if oracle else levels[level], metrics)

    while True:
        job = None
        for level in reversed(range(len(recorded))):
            ids = list(recorded[level])
            keep = math.floor(len(ids) / eta)
            if keep < 1:
                continue
            order = selection_order(
                np.array(list(recorded[level].values())), table.maximise, selection
            )
            job = next(
                ((ids[j], level) for j in order[:keep] if ids[j] not in promoted[level]), None
            )
            if job is not None:
                break
        if job is None:  # nothing to promote: a new architecture up to the first rung
            if drawn == len(entries):
                return reached, ratio, epochs
            epochs += levels[0]
            record(drawn, 0)
            drawn += 1
            continue
        i, level = job
        promoted[level].add(i)
        epochs += levels[level + 1] - levels[level]
        if level + 1 < len(recorded):
            record(i, level + 1)
            continue
        done.append(entries[i])
        ratio = table.hypervolume(table.points(done)) / table.true_front_hv
        if reached is None and ratio >= TARGET:
            reached = epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="fashion-dpp")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--fifo-budget", type=int, default=100, help="FIFO trials per seed")
    parser.add_argument("--budget", type=int, default=300, help="MO-ASHA trials per seed")
    parser.add_argument("--eta", default="3,4,9", help="reduction factors (comma-separated)")
    parser.add_argument("--sampling", choices=["uniform", "decisions"], default="uniform")
    parser.add_argument(
        "--oracle", action="store_true", help="rungs rank on full-budget metrics (a bound)"
    )
    parser.add_argument("--selection", choices=["nsga2", "epsnet"], default="nsga2")
    parser.add_argument("--grace", type=int, default=1, help="first rung (epochs)")
    parser.add_argument(
        "--kind",
        choices=["stop", "promotion"],
        default="stop",
        help="stop: dppnas's MOASHA (Tune-style); promotion: pausing ASHA (Li et al. 2020)",
    )
    args = parser.parse_args()

    table = load_table(args.table)
    settings: list[tuple[str, float | None, int]] = [("fifo", None, args.fifo_budget)]
    settings += [(f"moasha eta={e}", float(e), args.budget) for e in args.eta.split(",")]
    print(
        f"table {table.name}, {args.sampling} sampling, {args.seeds} seeds"
        f"{', oracle rungs' if args.oracle else ''}, {args.selection} selection, grace {args.grace}, "
        f"{args.kind} type; "
        f"epochs until hv ratio {TARGET}"
    )
    print(
        f"{'setting':<16}{'trials':>7}{'epochs->0.95':>14}{'reached':>9}{'final':>8}{'epochs':>8}"
    )
    medians: dict[str, Any] = {}
    for label, eta, budget in settings:
        replay = simulate if eta is None or args.kind == "stop" else simulate_promotion
        runs = [
            replay(
                table,
                sample(table, budget, args.sampling, np.random.default_rng(s)),
                eta,
                args.oracle,
                args.selection,
                args.grace,
            )
            for s in range(args.seeds)
        ]
        hit = [r[0] for r in runs if r[0] is not None]
        medians[label] = statistics.median(hit) if hit else None
        final = statistics.median(r[1] for r in runs)
        used = statistics.median(r[2] for r in runs)
        shown = "-" if medians[label] is None else f"{medians[label]:g}"
        print(
            f"{label:<16}{budget:>7}{shown:>14}{len(hit):>6}/{args.seeds:<2}{final:>8.4f}{used:>8g}"
        )
    first = settings[1][0]
    if medians["fifo"] and medians[first]:
        print(f"epochs_ratio={medians[first] / medians['fifo']:.2f} ({first} / fifo)")


if __name__ == "__main__":
    main()
