"""Where on the front each searcher spends its evaluations, on ``nb201-hw``.

    .venv/bin/python benchmarks/nb201_spread.py [--devices raspi4,titan_rtx_256] [--seeds 10]

For TPE, MONAS (mixed reward) and MONAS (pareto reward), 100 evaluations per seed
(``--engine direct``): the median over seeds of the latency IQR (ms) and of the median
accuracy of the last 50 evaluated architectures, beside the true front's latency range. A
searcher that converges on one trade-off spans a narrow latency band.
"""

from __future__ import annotations

import argparse

import numpy as np

from dppnas.bench.compare import run_direct
from dppnas.bench.table import load_table

SEARCHERS = [("tpe", {}), ("monas", {"reward": "mixed"}), ("monas", {"reward": "pareto"})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", default="raspi4,titan_rtx_256")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    for device in args.devices.split(","):
        table = load_table("nb201-hw").with_objectives(["accuracy", f"latency/{device}"])
        front = table.true_front()
        print(
            f"{device}: true front {len(front)} points, latency {front[:, 1].min():.2f}-"
            f"{front[:, 1].max():.2f} ms, accuracy {front[:, 0].min():.3f}-{front[:, 0].max():.3f}"
        )
        for name, options in SEARCHERS:
            spreads, accuracies = [], []
            for seed in range(args.seeds):
                trace = run_direct(table, name, seed, 100, options)
                last = table.points([table.lookup(a) for a in trace.archs])[50:]
                spreads.append(np.subtract(*np.percentile(last[:, 1], [75, 25])))
                accuracies.append(np.median(last[:, 0]))
            label = f"{name} {options.get('reward', '')}".strip()
            print(
                f"  {label:<14} last-50 latency IQR {np.median(spreads):.2f} ms, "
                f"median accuracy {np.median(accuracies):.3f}"
            )


if __name__ == "__main__":
    main()
