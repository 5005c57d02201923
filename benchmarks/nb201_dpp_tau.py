"""Kendall's tau of DPP-Net's surrogate per step on ``nb201-hw``, as ``bench compare`` drives it.

    .venv/bin/python benchmarks/nb201_dpp_tau.py [--device raspi4] [--seeds 5] [-s KEY=VALUE ...]

Runs DPP-Net (default options and costs: the few-shot latency model) for 100 evaluations per
seed, one trial at a time as ``--engine direct`` does, and prints each step's
``kendall_tau`` (the surrogate's predictions against the accuracies of the candidates it
trained) per seed and the median per step.
"""

from __future__ import annotations

import argparse

import numpy as np
import yaml

from dppnas.bench.compare import bench_experiment, split_costs, use_bench_costs
from dppnas.bench.table import load_table
from dppnas.tuning.tuner import make_search_alg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="raspi4")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("-s", "--option", action="append", default=[])
    args = parser.parse_args()
    given = {}
    for pair in args.option:
        key, _, value = pair.removeprefix("dpp.").partition("=")
        given[key] = yaml.safe_load(value)
    table = load_table("nb201-hw").with_objectives(["accuracy", f"latency/{args.device}"])
    taus = []
    for seed in range(args.seeds):
        source, options = split_costs("dpp", given)
        search_alg = make_search_alg(
            bench_experiment(table, "dpp", seed, args.budget, "fifo", 1, options)
        )
        use_bench_costs(search_alg, table, source, seed)
        search_alg.set_search_properties(None, None, {"arch": table.space.tune_space()})
        for i in range(args.budget):
            config = search_alg.suggest(f"t{i}")
            if not isinstance(config, dict):
                break
            entry = table.lookup(config["arch"])
            result = {**entry.metrics(), "final": True, "config": config}
            search_alg.on_trial_complete(f"t{i}", result=result)
        search_alg.suggest("last")  # closes the last step's record
        row = [r.kendall_tau for r in search_alg.history[1:]]
        taus.append([np.nan if t is None else t for t in row])
        print(f"seed {seed}: tau per step 2.. {np.round(taus[-1], 2).tolist()}", flush=True)
    width = max(len(t) for t in taus)
    padded = np.array([t + [np.nan] * (width - len(t)) for t in taus])
    print(f"median tau per step 2..: {np.round(np.nanmedian(padded, axis=0), 2).tolist()}")


if __name__ == "__main__":
    main()
