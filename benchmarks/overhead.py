"""Searcher overhead: trials per second with instant trials, and suggest() latency.

Every searcher runs in real Tune on the same instant trainable (one report, metrics a fixed
function of the architecture; no training) over the ``dpp`` space of the quickstart, with
the same budget, concurrency and ``reuse_actors=True``. Tune's own per-trial cost is in every
figure; the ratio to ``random`` (Tune's BasicVariantGenerator) isolates the searcher's.
suggest() latency is timed by driving each ``Searcher`` directly (suggest, then feed the
result back) outside Tune; BasicVariantGenerator is a generator, not a Searcher, so ``random``
has no suggest() figure.

A Tune run of 100 instant trials lasts seconds, so a shared machine moves one run's rate by
10 % or more; ``--repeats R`` runs every searcher R times, rotating the order each round
(each searcher goes first once in every len(searchers) rounds), and reports the median
trials/s and the median of the per-round ratios to ``random``.

Two rates per run: ``trials/s`` over the whole ``Tuner.fit()`` (Ray actors' start-up
included), and ``running`` over the trials alone (first report to last report). With
``reuse_actors`` and instant trials, whether a run gets its second trial actor is a race in
Tune: if the first actor finishes a trial before the second has started, Tune hands it the
next trial and drops the starting one, for the rest of the run (one actor: about half the
rate). ``--warm-actors S`` makes each actor's first trial last S seconds, so that every run
starts both actors and the rates compare searchers rather than that race.

    python benchmarks/overhead.py [--trials 200] [--repeats 1] [--warm-actors 0]
        [--searchers random,monas,dpp,nsga2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from typing import Any

import numpy as np

QUICKSTART = "experiments/quickstart.yaml"


def instant_metrics(arch: dict[str, Any]) -> dict[str, Any]:
    """Deterministic pseudo-metrics of an architecture (no training)."""
    digest = hashlib.sha256(repr(sorted(arch.items())).encode()).digest()
    return {
        "accuracy": 0.5 + digest[0] / 512,
        "latency/local-cpu": 0.1 + digest[1] / 255,
        "params": 1000 + digest[2] * 10,
        "flops": 10_000 + digest[3] * 100,
        "epochs": 1,
        "final": True,
    }


def instant_trainable(config: dict[str, Any]) -> None:
    """One report of :func:`instant_metrics`, stamped with its wall time (``reported_at``, s);
    the first trial of each actor first sleeps ``config["warm_s"]`` seconds."""
    from ray import tune

    if config.get("warm_s") and not os.environ.get("OVERHEAD_WARMED"):
        os.environ["OVERHEAD_WARMED"] = "1"  # this worker process (actor) is warm
        time.sleep(config["warm_s"])
    metrics = instant_metrics(config["arch"])
    latency = metrics.pop("latency/local-cpu")
    tune.report({**metrics, "latency": {"local-cpu": latency}, "reported_at": time.time()})


def experiment_for(searcher: str, trials: int):
    """The quickstart with ``searcher`` (default options) and a budget of ``trials``.

    DPP-Net's budget is fixed by its steps (all depth-1 cells, then ``k`` per step up to the
    space's ``max_depth`` of 2): ``k`` is set so that it spends the same ``trials`` as the
    others; with its default ``k`` it would stop after 26, and Tune's start-up would weigh on
    its trials/s four times as much.
    """
    from dppnas.config import load_experiment

    options: dict[str, Any] = {"name": searcher}
    if searcher == "dpp":
        space = load_experiment(QUICKSTART).search_space
        roots = len(space.options.norms) * len(space.options.convs)
        options["k"] = max(1, trials - roots)
    return load_experiment(
        QUICKSTART, {"searcher": options, "num_samples": trials, "max_concurrent": 2}
    )


def throughput(
    searcher: str, trials: int, storage: str, warm_s: float = 0.0
) -> tuple[int, float, float]:
    """(trials completed, seconds of the run, seconds from the first report to the last) of a
    Tune run with instant trials."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from dppnas.tuning.tuner import make_search_alg, trial_dirname

    experiment = experiment_for(searcher, trials)
    tuner = tune.Tuner(
        instant_trainable,
        param_space={"arch": experiment.search_space.tune_space(), "warm_s": warm_s},
        tune_config=tune.TuneConfig(
            search_alg=make_search_alg(experiment),
            num_samples=trials,
            max_concurrent_trials=2,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=f"overhead-{searcher}",
            storage_path=storage,
            verbose=0,
            callbacks=[JsonLoggerCallback()],
        ),
    )
    start = time.perf_counter()
    results = tuner.fit()
    seconds = time.perf_counter() - start
    stamps = [r.metrics["reported_at"] for r in results if "reported_at" in (r.metrics or {})]
    return len(results), seconds, max(stamps, default=0.0) - min(stamps, default=0.0)


def suggest_latency(searcher: str, n: int) -> list[float] | None:
    """suggest() wall times in ms, feeding each result back; None for non-Searchers."""
    from ray.tune.search import Searcher

    from dppnas.tuning.tuner import make_search_alg

    experiment = experiment_for(searcher, n)
    algo = make_search_alg(experiment)
    if not isinstance(algo, Searcher):
        return None
    algo.set_search_properties(None, None, {"arch": experiment.search_space.tune_space()})
    times: list[float] = []
    for i in range(n):
        trial_id = f"t{i}"
        start = time.perf_counter()
        config = algo.suggest(trial_id)
        times.append((time.perf_counter() - start) * 1e3)
        if config is None or config == Searcher.FINISHED:
            break
        algo.on_trial_complete(trial_id, result=instant_metrics(config["arch"]))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--searchers", default="random,monas,dpp,nsga2")
    parser.add_argument("--repeats", type=int, default=1, help="Tune runs per searcher")
    parser.add_argument(
        "--warm-actors", type=float, default=0.0, help="seconds of each actor's first trial"
    )
    args = parser.parse_args()

    import ray

    from search_algos import SEARCHERS

    names = [s for s in args.searchers.split(",") if s in SEARCHERS]
    skipped = [s for s in args.searchers.split(",") if s not in SEARCHERS]
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rates: dict[str, list[float]] = {name: [] for name in names}
    running: dict[str, list[float]] = {name: [] for name in names}
    done_by: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as storage:
        for round_ in range(max(1, args.repeats)):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                done, seconds, span = throughput(name, args.trials, storage, args.warm_actors)
                rates[name].append(done / seconds)
                running[name].append((done - 1) / span if span > 0 else float("nan"))
                done_by[name] = done
                print(
                    f"run {round_ + 1}: {name} {done} trials in {seconds:.2f} s "
                    f"({span:.2f} s from the first report to the last)",
                    flush=True,
                )
    latency = {name: suggest_latency(name, args.trials) for name in names}
    print(
        f"instant trials, budget {args.trials}, concurrency 2, reuse_actors, 2 CPUs, "
        f"{max(1, args.repeats)} run(s) per searcher (median), warm actors {args.warm_actors} s"
    )
    print(
        f"{'searcher':<9}{'trials':>7}{'trials/s':>10}{'vs random':>10}{'running/s':>11}"
        f"{'vs random':>10}{'suggest p50 ms':>16}{'p99 ms':>9}"
    )
    for name in names:
        lat = latency[name]
        p50 = f"{statistics.median(lat):.2f}" if lat else "-"
        p99 = f"{np.percentile(lat, 99):.2f}" if lat else "-"
        print(
            f"{name:<9}{done_by[name]:>7}{statistics.median(rates[name]):>10.1f}"
            f"{_vs_random(rates, name):>10}{statistics.median(running[name]):>11.1f}"
            f"{_vs_random(running, name):>10}{p50:>16}{p99:>9}"
        )
    if skipped:
        print(f"not registered (skipped): {', '.join(skipped)}")


def _vs_random(rates: dict[str, list[float]], name: str) -> str:
    """The median of the per-round ratios of ``name``'s rate to random's."""
    if "random" not in rates:
        return "-"
    return f"{statistics.median(np.divide(rates[name], rates['random'])):.2f}"


if __name__ == "__main__":
    main()
