"""Do DPP-Net's speed mechanisms pay when trials last a second or more?

Runs DPP-Net in real Tune on the quickstart-sized ``dpp`` space (3 steps: all 18 depth-1
cells, then k = 8 per step) with a trainable that sleeps ``--trial-s`` seconds and reports a
fixed function of the cell, two trials at a time, ``reuse_actors=True``. Variants:

* ``as-is``: the searcher as it is;
* ``no-early``: without early completion on a ``final`` result (:meth:`on_trial_result`
  does nothing; the step boundary waits for Tune's ``on_trial_complete``);
* ``no-background`` (only where the searcher has a background step thread): the next step
  planned in ``suggest`` instead.

Printed per variant: the median wall time of ``Tuner.fit()`` over ``--repeats`` runs (s), and
its ratio to ``as-is``. Run it from a checkout (``PYTHONPATH`` picks which code is measured).

    python benchmarks/dpp_mechanisms.py [--trial-s 1.0] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

NORMS = ["bn_relu", "bn", "identity"]
CONVS = ["conv1x1", "conv3x3", "gconv1x1", "gconv3x3", "lgconv1x1", "dwconv3x3"]
SPACE = {"name": "dpp", "max_depth": 3, "cells_per_stage": [1, 1], "growth": [8, 16]}
CONV_MS = dict(zip(CONVS, [1.0, 3.0, 0.5, 1.2, 0.6, 0.8], strict=True))
CONV_GAIN = dict(zip(CONVS, [0.01, 0.04, -0.01, 0.02, 0.0, 0.015], strict=True))


def _cell(item: Any) -> Any:
    """A cell from what a costs function receives (a Cell, or a config ``{"arch": ...}``)."""
    from dppnas.spaces import make_space

    if isinstance(item, dict):
        return make_space(SPACE).decode(item["arch"])
    return item


def latency_costs(items: list[Any]) -> dict[str, list[float]]:
    """``latency/x`` of each candidate: the sum of its convs' ms."""
    return {"latency/x": [sum(CONV_MS[c] for _, c in _cell(i).layers) for i in items]}


def make_trainable(trial_s: float, conv_gain: dict, conv_ms: dict):
    """Sleeps ``trial_s`` then reports accuracy and latency (closure: pickled by value)."""

    def trainable(config: dict[str, Any]) -> None:
        from ray import tune

        from dppnas.spaces import make_space

        cell = make_space(config["space"]).decode(config["arch"])
        time.sleep(trial_s)
        tune.report(
            {
                "accuracy": 0.6
                + sum(conv_gain[c] * 0.8**j for j, (_, c) in enumerate(cell.layers)),
                "latency": {"x": sum(conv_ms[c] for _, c in cell.layers)},
                "final": True,
            }
        )

    return trainable


def searcher(variant: str) -> Any:
    from search_algos.dpp import DPPNetSearcher

    class Variant(DPPNetSearcher):
        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            if variant != "no-early":
                super().on_trial_result(trial_id, result)

        def _prepare_next_step(self) -> None:  # the old searcher's background thread
            if variant != "no-background":
                super()._prepare_next_step()

    return Variant(["accuracy", "latency/x"], ["max", "min"], k=8, costs=latency_costs, seed=0)


def run(variant: str, trial_s: float) -> float:
    from ray import tune

    from dppnas.spaces import make_space

    space = make_space(SPACE)
    search_alg = searcher(variant)
    tuner = tune.Tuner(
        make_trainable(trial_s, CONV_GAIN, CONV_MS),
        param_space={"arch": space.tune_space(), "space": space.config()},
        tune_config=tune.TuneConfig(
            search_alg=search_alg, num_samples=40, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    seconds = time.perf_counter() - start
    assert len(results) == 34 and not results.errors, (len(results), results.errors)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--variants", default="as-is,no-early,no-background")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    variants = args.variants.split(",")
    times: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(args.repeats):
        for v in variants[r % len(variants) :] + variants[: r % len(variants)]:
            times[v].append(run(v, args.trial_s))
    base = statistics.median(times[variants[0]])
    print(f"trial {args.trial_s} s, 34 trials, 2 at a time, {args.repeats} repeats")
    for v in variants:
        median = statistics.median(times[v])
        print(f"{v:>14}: {median:6.2f} s  ({median / base:.2f}x {variants[0]})  {times[v]}")


if __name__ == "__main__":
    main()
