"""How many points of the true front DPP-Net and uniform random search find on the synthetic
problem of ``tests/test_dpp_growth.py`` (six layers x five ops, 15,625 architectures, 56 on
the true front), at DPP-Net's budget (45 evaluations with the default k = 8).

DPP-Net is driven directly (suggest, then the result; no Ray), with the costs callable, for
``--seeds`` seeds; random search draws the same number of distinct architectures uniformly,
``--draws`` times. Printed: true-front points found (DPP-Net per seed; random's median, 95th
and 99th percentiles and maximum) and the hypervolume ratio (declared reference point: the
objectives' ``ref``). The test's threshold ``RANDOM_FRONT_HITS_MAX`` is random's maximum.

    python benchmarks/dpp_synthetic_front.py [--seeds 5] [--draws 2000]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_dpp_growth import (  # noqa: E402
    LAYERS,
    METRIC,
    MODE,
    OBJECTIVES,
    OPS,
    PARAM_SPACE,
    _drive,
    _evaluate,
    front_hits,
    latency,
    latency_costs,
    valid_acc,
)

from dppnas.pareto import hypervolume  # noqa: E402


def hv_ratio(configs: list[dict], best: float) -> float:
    points = np.array([[valid_acc(c), latency(c)] for c in configs])
    return hypervolume(points, [o.ref for o in OBJECTIVES], [True, False]) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--parents", default=None, help="DPP-Net's parents (default: its own)")
    args = parser.parse_args()
    from search_algos.dpp import DPPNetSearcher

    every = [dict(zip(LAYERS, ops, strict=True)) for ops in itertools.product(OPS, repeat=6)]
    best = hv_ratio(every, 1.0)
    hits, ratios = [], []
    for seed in range(args.seeds):
        options = {} if args.parents is None else {"parents": args.parents}
        searcher = DPPNetSearcher(METRIC, MODE, costs=latency_costs, seed=seed, **options)
        searcher.set_search_properties(None, None, dict(PARAM_SPACE))
        configs = _drive(searcher, _evaluate, itertools.count())
        hits.append(front_hits(configs))
        ratios.append(hv_ratio(configs, best))
    budget = len(configs)
    rng = np.random.default_rng(0)
    random_hits, random_ratios = [], []
    for _ in range(args.draws):
        draw = [every[i] for i in rng.choice(len(every), budget, replace=False)]
        random_hits.append(front_hits(draw))
        random_ratios.append(hv_ratio(draw, best))
    q = np.percentile(random_hits, [50, 95, 99, 100])
    print(f"budget {budget} evaluations; true-front points found")
    print(f"  dpp    (seeds 0..{args.seeds - 1}): {hits}")
    print(
        f"  random ({args.draws} draws): median {q[0]:g}, p95 {q[1]:g}, p99 {q[2]:g}, max {q[3]:g}"
    )
    r = np.percentile(random_ratios, [50, 95])
    print(f"hv ratio: dpp {np.round(ratios, 3).tolist()}; random median {r[0]:.3f}, p95 {r[1]:.3f}")


if __name__ == "__main__":
    main()
