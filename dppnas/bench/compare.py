"""``dppnas bench compare``: searchers x seeds in real Tune on a table, against its true front.

Each run replays the table with :class:`TabularTrainable` for ``budget`` trials. Only trials
that reached the full budget (``final``) count as evaluated architectures: a trial stopped
early by a scheduler never showed its final accuracy. After each completed trial the
hypervolume of the evaluated front is divided by the true front's (``hv_ratio``); epochs are
counted over every trial, stopped ones included (``epochs_used``, ``epochs_to``).

Because with a worst-case reference point even random search reaches 0.92-0.99 of the true
hypervolume, searchers are also compared on ``log_hv_regret`` = log10(1 - HV / HV_true) per
seed (floored at :data:`REGRET_FLOOR` when the front is found exactly) and ``front_found``,
the share of the true front's architectures evaluated (by canonical key: a table entry is one
architecture). The objectives are any of the table's metrics (``objectives``; default: the
table's declared pair), each with the table's declared reference value.

DPP-Net ranks untrained candidates on costs it gets as a real search would
(:mod:`dppnas.bench.costs`: few-shot latency by default; ``-s dpp.costs=table`` for the
table's values, an oracle labelled so in the printout and in the JSON's ``costs``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.atomic import atomic_writer
from dppnas.bench.costs import CostSpec
from dppnas.bench.table import BenchmarkTable
from dppnas.errors import ConfigError

THRESHOLDS = ("0.9", "0.95", "0.99")
#: log10 hypervolume regret of a run that found the true front's hypervolume exactly
REGRET_FLOOR = -6.0


def log_regret(hv_ratio: float) -> float:
    """log10(1 - ``hv_ratio``), floored at :data:`REGRET_FLOOR` (0: nothing dominated)."""
    return max(REGRET_FLOOR, math.log10(max(1.0 - hv_ratio, 10.0**REGRET_FLOOR)))


@dataclass
class RunTrace:
    """One searcher x seed run: per completed trial, its architecture, epochs and finality."""

    archs: list[dict[str, Any]] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    final: list[bool] = field(default_factory=list)
    errored: int = 0
    #: DPP-Net: where its costs of untrained candidates came from, and the models per metric
    costs: str | None = None
    cost_models: dict[str, str] = field(default_factory=dict)


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


def score_trace(table: BenchmarkTable, trace: RunTrace, budget: int) -> dict[str, Any]:
    """hv_ratio / IGD+ at the end, the hv-ratio curve per evaluation, epochs to thresholds."""
    from dppnas.pareto import ParetoArchive

    archive = ParetoArchive(table.objectives)  # keeps the front; no file
    front = {e.index for e in table.true_front_entries()}
    found: set[int] = set()
    curve: list[float] = []
    epochs_at: list[int] = []
    total_epochs = 0
    for i, (arch, epochs, final) in enumerate(
        zip(trace.archs, trace.epochs, trace.final, strict=True)
    ):
        total_epochs += epochs
        if final:
            entry = table.lookup(arch)
            archive.add(str(i), {"arch": arch}, entry.metrics(), final=True)
            found.add(entry.index)
        curve.append(archive.hypervolume() / table.true_front_hv)
        epochs_at.append(total_epochs)
    reach = {}
    for t in THRESHOLDS:
        hit = next((i for i, r in enumerate(curve) if r >= float(t) - 1e-12), None)
        reach[t] = (None, None) if hit is None else (hit + 1, epochs_at[hit])
    padded = curve + [curve[-1] if curve else 0.0] * (budget - len(curve))
    return {
        "hv_ratio": curve[-1] if curve else 0.0,
        "log_hv_regret": log_regret(curve[-1] if curve else 0.0),
        "front_found": len(found & front) / len(front),
        "igd_plus": table.igd_plus(archive.points(front_only=True)),
        "curve": padded,
        "evals_to": {t: reach[t][0] for t in THRESHOLDS},
        "epochs_to": {t: reach[t][1] for t in THRESHOLDS},
        "epochs_used": total_epochs,
        "evaluated": len(archive.entries),
        "errored": trace.errored,
        "costs": trace.costs,
        "cost_models": trace.cost_models,
    }


def _median_or_none(values: list[float | None]) -> float | None:
    """Median counting an unreached threshold as +inf; None when the median is unreached."""
    finite = sorted(float("inf") if v is None else float(v) for v in values)
    median = statistics.median(finite) if finite else float("inf")
    return None if median == float("inf") else median


def summarise(
    table: BenchmarkTable, scores: dict[str, list[dict[str, Any]]], budget: int, scheduler: str
) -> dict[str, Any]:
    """The results JSON of ``dppnas bench compare`` (keys are a contract)."""
    results = {}
    for name, runs in scores.items():
        curves = np.array([r["curve"] for r in runs])
        results[name] = {
            "hv_ratio": [r["hv_ratio"] for r in runs],
            "igd_plus": [r["igd_plus"] for r in runs],
            "hv_curve": [[i + 1, float(np.median(curves[:, i]))] for i in range(curves.shape[1])],
            "evals_to": {t: _median_or_none([r["evals_to"][t] for r in runs]) for t in THRESHOLDS},
            "epochs_to": {
                t: _median_or_none([r["epochs_to"][t] for r in runs]) for t in THRESHOLDS
            },
            "epochs_used": [r["epochs_used"] for r in runs],
            "log_hv_regret": [r["log_hv_regret"] for r in runs],
            "front_found": [r["front_found"] for r in runs],
            # DPP-Net: costs of untrained candidates (an oracle says so), models per seed
            **(
                {"costs": runs[0]["costs"], "cost_models": [r["cost_models"] for r in runs]}
                if runs[0].get("costs")
                else {}
            ),
            # per evaluation: [evaluations, 25th percentile, median, 75th percentile]
            "log_hv_regret_curve": [
                [i + 1, *np.percentile([log_regret(v) for v in curves[:, i]], [25, 50, 75])]
                for i in range(curves.shape[1])
            ],
        }
    return {
        "table": table.name,
        "objectives": [o.model_dump() for o in table.objectives],
        "reference_point": table.reference_point,
        "true_front_hv": table.true_front_hv,
        "budget": budget,
        "scheduler": scheduler,
        "results": results,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Median and IQR of hv_ratio, log10 hv regret and IGD+ per searcher, the share of the
    true front found, and evaluations/epochs to 0.95."""
    objectives = ", ".join(
        f"{o['metric']} ({o['mode']}, ref {o['ref']:.6g})" for o in summary["objectives"]
    )
    lines = [
        f"table {summary['table']}  budget {summary['budget']}  scheduler {summary['scheduler']}  "
        f"true-front hv {summary['true_front_hv']:.5g}",
        f"objectives: {objectives}",
        f"reference point: {summary['reference_point']}",
        f"{'searcher':<10}{'hv_ratio med':>13}{'IQR':>17}{'log regret med':>15}{'IQR':>17}"
        f"{'front found':>12}{'IGD+ med':>10}{'evals->0.95':>12}{'epochs->0.95':>13}"
        f"{'epochs used':>12}",
    ]
    for name, r in summary["results"].items():
        q1, med, q3 = np.percentile(r["hv_ratio"], [25, 50, 75])
        igd = float(np.median(r["igd_plus"]))
        ev, ep = r["evals_to"]["0.95"], r["epochs_to"]["0.95"]
        g1, gm, g3 = np.percentile(r["log_hv_regret"], [25, 50, 75])
        found = float(np.median(r["front_found"]))
        lines.append(
            f"{name:<10}{med:>13.4f}{f'[{q1:.4f}, {q3:.4f}]':>17}{gm:>15.3f}"
            f"{f'[{g1:.3f}, {g3:.3f}]':>17}{found:>12.3f}{igd:>10.4f}"
            f"{'-' if ev is None else f'{ev:.0f}':>12}{'-' if ep is None else f'{ep:.0f}':>13}"
            f"{np.median(r['epochs_used']):>12.0f}"
        )
    lines += [
        f"{name}: costs of untrained candidates: {r['costs']}"
        for name, r in summary["results"].items()
        if r.get("costs")
    ]
    return "\n".join(lines)


def plot_curves(summary: dict[str, Any], path: Path) -> None:
    """PNG: median hypervolume ratio (left) and median log10 hypervolume regret with its
    interquartile band (right) against evaluations, one line per searcher."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for name, r in summary["results"].items():
        curve = np.array(r["hv_curve"])
        (line,) = ax.plot(curve[:, 0], curve[:, 1], label=name)
        regret = np.array(r["log_hv_regret_curve"])
        bx.plot(regret[:, 0], regret[:, 2], color=line.get_color(), label=name)
        bx.fill_between(regret[:, 0], regret[:, 1], regret[:, 3], color=line.get_color(), alpha=0.2)
    ax.set_xlabel("evaluations (completed trials)")
    ax.set_ylabel("hypervolume ratio (median over seeds)")
    ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
    bx.set_xlabel("evaluations (completed trials)")
    bx.set_ylabel("log10(1 - HV / HV_true): median, IQR band")
    metrics = ", ".join(o["metric"] for o in summary["objectives"])
    fig.suptitle(f"{summary['table']} ({summary['scheduler']}): {metrics}")
    for axis in (ax, bx):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_json_atomic(path: Path, data: Any) -> None:
    with atomic_writer(path) as handle:
        json.dump(data, handle, indent=1)


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
