"""``dppnas bench compare``: searchers x seeds in real Tune on a table, against its true front.

Each run replays the table with :class:`TabularTrainable` for ``budget`` trials (or, with
``engine="direct"``, drives the searcher in this process, one trial at a time); each run's
completions (a :class:`~dppnas.bench.scoring.RunTrace`) are scored against the table's true
front by :mod:`dppnas.bench.scoring`, which also writes the summary, the printout and the PNG.

DPP-Net ranks untrained candidates on costs it gets as a real search would
(:mod:`dppnas.bench.costs`: few-shot latency by default; ``-s dpp.costs=table`` for the
table's values, an oracle labelled so in the printout and in the JSON's ``costs``).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dppnas.bench.costs import CostSpec
from dppnas.bench.scoring import (
    RunTrace,
    format_summary,
    plot_curves,
    score_trace,
    summarise,
    write_json_atomic,
)
from dppnas.bench.table import BenchmarkTable
from dppnas.errors import ConfigError


def _collector():
    from ray.tune import Callback

    class CompletionCollector(Callback):
        """Records completed trials in completion order (driver side; never raises)."""

        def __init__(self) -> None:
            self.trace = RunTrace()

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            result = trial.last_result or {}
            self.trace.archs.append(dict(trial.config.get("arch", {})))
            self.trace.epochs.append(int(result.get("training_iteration", 0)))
            self.trace.final.append(bool(result.get("final", False)))

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.trace.errored += 1

    return CompletionCollector()


def searcher_options(
    table: BenchmarkTable, searcher: str, budget: int, given: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The experiment's ``searcher`` section: the ``given`` options over the defaults, except
    that DPP-Net's ``k0`` / ``k``, unless given, are set so that its steps spend ``budget``
    (ours: with its default ``k`` = 8 it would stop after 18 + 8 trials on a depth-2 space,
    far short of the others' budget). Step 1 trains every depth-1 cell when the budget
    allows, as in PNAS; the rest is split over the steps.
    """
    section = {"name": searcher}
    if searcher == "dpp":  # the steps of the space's growth rule (dpp, monas, nb201, prefix)
        from search_algos.decisions import space_from_search_space
        from search_algos.dpp.growth import make_growth

        rule = make_growth(None, space_from_search_space(table.space).decisions, table.space)
        # distinct networks only (NB201's 24 one-edge cells are 5: 19 have a dead edge)
        roots = len({table.lookup(rule.config(r)["arch"]).index for r in rule.roots()})
        steps = rule.max_depth - 1
        if steps == 0:
            section["k0"] = min(roots, budget)
        else:
            k0 = roots if budget >= roots + steps else max(1, budget // (steps + 1))
            section |= {"k0": k0, "k": max(1, math.ceil((budget - k0) / steps))}
    return section | dict(given or {})


def split_costs(
    searcher: str, options: Mapping[str, Any] | None
) -> tuple[CostSpec | None, dict[str, Any]]:
    """DPP-Net's benchmark-only ``costs`` (:data:`~dppnas.bench.costs.COST_SOURCES`, default
    ``fewshot``) and ``cost_digits`` options apart from its searcher options; ``None`` for
    other searchers."""
    from dppnas.bench.costs import COST_DIGITS, COST_SOURCES

    rest = dict(options or {})
    if searcher != "dpp":
        return None, rest
    source = str(rest.pop("costs", "fewshot"))
    if source not in COST_SOURCES:
        raise ConfigError(
            f"-s dpp.costs: expected one of {', '.join(COST_SOURCES)}, got {source!r}"
        )
    digits = rest.pop("cost_digits", COST_DIGITS)
    if digits not in (None, "auto") and (not isinstance(digits, int) or digits < 1):
        raise ConfigError(
            f"-s dpp.cost_digits: expected an integer >= 1, auto or null, got {digits!r}"
        )
    return CostSpec(source, digits), rest


def use_bench_costs(
    search_alg: Any, table: BenchmarkTable, source: CostSpec | None, seed: int
) -> RunTrace:
    """Give DPP-Net (any searcher with ``use_costs``) its benchmark costs from ``source``
    (:func:`~dppnas.bench.costs.bench_costs`; None: none); an empty trace holding their
    label and fitted models."""
    trace = RunTrace()
    if source is not None and hasattr(search_alg, "use_costs"):
        from dppnas.bench.costs import bench_costs

        costs = bench_costs(table, source, seed)
        search_alg.use_costs(costs)
        trace.costs, trace.cost_models = costs.label, dict(getattr(costs, "models", {}))
    return trace


def bench_experiment(
    table: BenchmarkTable,
    searcher: str,
    seed: int,
    budget: int,
    scheduler: str,
    concurrency: int,
    options: Mapping[str, Any] | None = None,
):
    """A validated :class:`~dppnas.config.Experiment` describing one run on ``table``."""
    from dppnas.config import parse_experiment

    recipe = table.meta["recipe"]
    # latency/<device> objectives need a device of that name in the experiment; in a replay
    # the table's measured values stand in for it and no device model is ever called
    devices = {"local-cpu": {"kind": "measured"}}
    for o in table.objectives:
        group, _, device = o.metric.partition("/")
        if group in ("latency", "energy"):
            devices[device] = {"kind": "measured"}
    return parse_experiment(
        {
            "name": f"bench-{table.name}-{searcher}-{seed}",
            "seed": seed,
            "dataset": recipe["dataset"],
            "space": recipe["space"],
            "searcher": searcher_options(table, searcher, budget, options),
            "scheduler": {"name": scheduler},
            "objectives": [o.model_dump() for o in table.objectives],
            "devices": devices,
            "train": {"epochs": table.epochs},
            "num_samples": budget,
            "max_concurrent": concurrency,
        }
    )


def run_once(
    table: BenchmarkTable,
    searcher: str,
    seed: int,
    budget: int,
    scheduler: str = "fifo",
    concurrency: int = 2,
    storage: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> RunTrace:
    """One real Tune run of ``searcher`` (with ``options``) on ``table``; returns its
    completion trace."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    from dppnas.bench.replay import TabularTrainable
    from dppnas.tuning.tuner import make_scheduler, make_search_alg, trial_dirname

    source, options = split_costs(searcher, options)
    experiment = bench_experiment(table, searcher, seed, budget, scheduler, concurrency, options)
    search_alg = make_search_alg(experiment)
    labels = use_bench_costs(search_alg, table, source, seed)
    collector = _collector()
    storage = storage or tempfile.mkdtemp(prefix="dppnas-bench-")
    tuner = tune.Tuner(
        TabularTrainable(table.source),
        param_space={"arch": table.space.tune_space()},
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=make_scheduler(experiment),
            num_samples=budget,
            max_concurrent_trials=concurrency,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=experiment.name,
            storage_path=storage,
            # JSON only: per-trial TensorBoard/CSV files cost time and nobody reads them here
            callbacks=[collector, JsonLoggerCallback()],
            verbose=0,
        ),
    )
    tuner.fit()
    trace = collector.trace
    trace.costs, trace.cost_models = labels.costs, labels.cost_models
    return trace


def run_direct(
    table: BenchmarkTable,
    searcher: str,
    seed: int,
    budget: int,
    options: Mapping[str, Any] | None = None,
) -> RunTrace:
    """One run of ``searcher`` on ``table`` in this process, without Ray: Tune's searcher
    protocol with one trial at a time and no scheduler (``suggest``, the table entry's final
    result as Tune flattens it, ``on_trial_complete``). What :func:`run_once` does with
    ``concurrency`` 1 and FIFO, at a fraction of the cost (no trial actors, no result files).
    ``random`` (Tune's BasicVariantGenerator, not a ``Searcher``) draws from the same
    ``generate_variants`` with the same seeded generator."""
    from ray.tune.search import Searcher
    from ray.tune.search.sample import _BackwardsCompatibleNumpyRng
    from ray.tune.search.variant_generator import generate_variants

    from dppnas.tuning.tuner import make_search_alg

    source, options = split_costs(searcher, options)
    experiment = bench_experiment(table, searcher, seed, budget, "fifo", 1, options)
    search_alg = make_search_alg(experiment)
    trace = use_bench_costs(search_alg, table, source, seed)
    param_space = {"arch": table.space.tune_space()}
    if isinstance(search_alg, Searcher):
        search_alg.set_search_properties(None, None, param_space)
        suggest = search_alg.suggest
    else:  # BasicVariantGenerator's sampling, seeded as it seeds it
        rng = _BackwardsCompatibleNumpyRng(seed)

        def suggest(trial_id: str) -> dict[str, Any]:
            return next(generate_variants(param_space, random_state=rng))[1]

    for i in range(budget):
        trial_id = f"t{i:05d}"
        config = suggest(trial_id)
        if not isinstance(config, dict):  # FINISHED (or nothing left to suggest)
            break
        entry = table.lookup(config["arch"])
        result = {**entry.metrics(), "test_accuracy": entry.test_accuracy}
        result |= {"final": True, "epochs": entry.epochs, "training_iteration": entry.epochs}
        if isinstance(search_alg, Searcher):
            search_alg.on_trial_complete(trial_id, result={**result, "config": config})
        trace.archs.append(dict(config["arch"]))
        trace.epochs.append(entry.epochs)
        trace.final.append(True)
    return trace


@contextlib.contextmanager
def _env(name: str, value: str):
    """Set an environment variable for the duration of the block only."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def compare(
    table_name: str,
    searchers: list[str],
    budget: int,
    seeds: int,
    scheduler: str = "fifo",
    concurrency: int = 2,
    out: Path | None = None,
    log=print,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    first_seed: int = 0,
    objectives: list[str] | None = None,
    engine: str = "tune",
) -> dict[str, Any]:
    """Run every searcher x seed (``first_seed`` .. ``first_seed + seeds - 1``), print the
    summary, write the JSON and the PNG.

    ``options``: per searcher name, options of its ``searcher`` section (e.g.
    ``{"monas": {"reward": "pareto"}}``); the rest are the searchers' defaults.
    ``objectives``: metrics of the table (default: its declared objectives).
    ``engine``: ``tune`` (real Tune runs) or ``direct`` (:func:`run_direct`: in-process, one
    trial at a time, FIFO only; for many-seed comparisons).
    """
    options = options or {}
    import ray

    from dppnas.bench.table import load_table

    if engine not in ("tune", "direct"):
        raise ConfigError(f"--engine: expected tune or direct, got {engine!r}")
    if engine == "direct" and scheduler != "fifo":
        raise ConfigError(
            "--engine direct runs one trial at a time without a scheduler: "
            "use --scheduler fifo, or --engine tune for MO-ASHA"
        )
    table = load_table(table_name)
    if objectives:
        table = table.with_objectives(objectives)
    log(
        f"objectives {[o.metric for o in table.objectives]}, reference point {table.reference_point}"
    )
    for name in searchers:  # refuse unknown names and options before running anything
        _, given = split_costs(name, options.get(name))
        bench_experiment(table, name, 0, budget, scheduler, concurrency, given)
    if engine == "tune" and not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    scores: dict[str, list[dict[str, Any]]] = {}
    with (
        _env("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
        tempfile.TemporaryDirectory(prefix="dppnas-bench-") as storage,
    ):
        for name in searchers:
            for seed in range(first_seed, first_seed + seeds):
                if engine == "direct":
                    trace = run_direct(table, name, seed, budget, options.get(name))
                else:
                    trace = run_once(
                        table,
                        name,
                        seed,
                        budget,
                        scheduler,
                        concurrency,
                        storage,
                        options.get(name),
                    )
                score = score_trace(table, trace, budget)
                scores.setdefault(name, []).append(score)
                log(
                    f"{name} seed {seed}: hv_ratio {score['hv_ratio']:.4f}, log10 regret "
                    f"{score['log_hv_regret']:.3f}, front found {score['front_found']:.3f}, "
                    f"{score['evaluated']} evaluated, {score['epochs_used']} epochs"
                )
    summary = summarise(table, scores, budget, scheduler)
    log(format_summary(summary))
    if out is not None:
        write_json_atomic(out, summary)
        plot_curves(summary, out.with_suffix(".png"))
        log(f"wrote {out} and {out.with_suffix('.png')}")
    return summary
