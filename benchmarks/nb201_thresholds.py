"""Measure the thresholds of the searcher replay tests on ``nb201-hw`` (``tests/test_nb201.py``).

    .venv/bin/python benchmarks/nb201_thresholds.py [--device titanx_256] [--budget 100]
        [--test-seeds 5] [--random-seeds 1000] [--searcher monas|dpp] [-s NAME.KEY=VALUE ...]

A test runs a searcher for ``budget`` evaluations on ``test-seeds`` seeds (0, 1, ...) and
asserts on the median of their log10 hypervolume regrets. A useless searcher must fail it:
the threshold has to lie below what uniform random search reaches in 95 % of draws. This
script runs random search (Tune's per-decision sampling, ``--engine direct``) on
``random-seeds`` other seeds, forms the distribution of the median over ``test-seeds``
independent runs (resampling the per-seed values, 100,000 groups), and prints its 5th
percentile (a regret only 5 % of random draws beat) beside the searcher's own median on the
test's seeds. For ``--searcher dpp`` it also replays DPP-Net with its accuracy surrogate
replaced by a constant (every candidate predicted equal: selection on costs alone), the bar
a useless surrogate reaches.
"""

from __future__ import annotations

import argparse

import numpy as np
import yaml

from dppnas.bench.compare import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="titanx_256")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--test-seeds", type=int, default=5)
    parser.add_argument("--random-seeds", type=int, default=1000)
    parser.add_argument("--searcher", default="monas")
    parser.add_argument("-s", "--searcher-option", action="append", default=[])
    args = parser.parse_args()
    objectives = ["accuracy", f"latency/{args.device}"]
    options = {}
    for pair in args.searcher_option:
        key, _, value = pair.removeprefix(f"{args.searcher}.").partition("=")
        options[key] = yaml.safe_load(value)

    def regrets(searcher: str, seeds: int, first: int, opts: dict) -> np.ndarray:
        summary = compare(
            "nb201-hw",
            [searcher],
            args.budget,
            seeds,
            log=lambda m: None,
            options={searcher: opts},
            objectives=objectives,
            engine="direct",
            first_seed=first,
        )
        return np.array(summary["results"][searcher]["log_hv_regret"])

    random = regrets("random", args.random_seeds, 10_000, {})
    rng = np.random.default_rng(0)
    groups = rng.choice(random, size=(100_000, args.test_seeds), replace=True)
    medians = np.median(groups, axis=1)
    ours = regrets(args.searcher, args.test_seeds, 0, options)
    constant = None
    if args.searcher == "dpp":
        from unittest import mock

        from search_algos.dpp.surrogate import AccuracySurrogate

        def flat(self, archs):
            return np.full(len(archs), 0.5)

        with mock.patch.object(AccuracySurrogate, "predict", flat):
            constant = regrets(args.searcher, args.test_seeds, 0, options)
    print(f"objectives {objectives}, budget {args.budget}")
    print(
        f"random, per seed ({args.random_seeds} seeds): median {np.median(random):.3f}, "
        f"5th percentile {np.percentile(random, 5):.3f}"
    )
    print(
        f"random, median of {args.test_seeds} seeds: 5th percentile "
        f"{np.percentile(medians, 5):.3f}, 1st {np.percentile(medians, 1):.3f}"
    )
    print(
        f"{args.searcher} {options}, seeds 0..{args.test_seeds - 1}: per seed "
        f"{np.round(ours, 3).tolist()}, median {np.median(ours):.3f}"
    )
    if constant is not None:
        print(
            f"{args.searcher} with a constant accuracy predictor, seeds 0..{args.test_seeds - 1}: "
            f"per seed {np.round(constant, 3).tolist()}, median {np.median(constant):.3f}"
        )


if __name__ == "__main__":
    main()
