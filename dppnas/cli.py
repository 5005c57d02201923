"""``dppnas`` command line: ``search``, ``bench``, the device commands ``profile``,
``latency-eval``, ``reanchor``, ``calibrate`` and ``devices``, and the result commands
``report``, ``export`` and ``retrain``.

User errors print one line ``dppnas: error: ...`` on stderr, no traceback, exit code 2;
Ctrl-C exits with code 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dppnas.arguments import input_shape, key_values, space_options
from dppnas.errors import DppnasError, short_text
from dppnas.paths import check_output_file, check_output_folder

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


class UsageError(DppnasError):
    """A command line argparse refused (unknown option, missing or malformed value)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``dppnas: error: ...``) like every other
    user error, not a usage block followed by the error; ``-h`` still shows the usage."""

    def error(self, message: str):  # type: ignore[override]
        command = self.prog.removeprefix("dppnas").strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dppnas")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dppnas", description="Device-aware, Pareto-optimal neural architecture search."
    )
    parser.add_argument("--version", action="version", version=f"dppnas {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = sub.add_parser("search", help="run a search described by an experiment YAML file")
    search.add_argument("experiment", help="experiment file, e.g. experiments/quickstart.yaml")
    search.add_argument("--address", help="Ray cluster to join: 'auto' or HOST:PORT")
    search.add_argument("--num-samples", type=int, help="override num_samples (trials)")
    search.add_argument("--name", help="override the experiment name (the run folder)")
    search.add_argument("--storage", help="override storage_path (results go to STORAGE/NAME)")
    search.add_argument(
        "--resume", action="store_true", help="continue the run STORAGE/NAME after a stop"
    )
    search.add_argument("--verbose", action="store_true", help="show Tune's own status tables")
    search.set_defaults(handler=_cmd_search)

    bench = sub.add_parser("bench", help="offline tabular benchmark: build tables, compare")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = bench_sub.add_parser(
        "build", help="train every architecture of a reduced space into a table (resumable)"
    )
    build.add_argument("--name", required=True, help="table name, e.g. fashion-dpp")
    _add_space_arguments(build)
    build.add_argument("--dataset", default="fashion-mnist")
    build.add_argument("--train-subset", type=int, default=10000)
    build.add_argument("--epochs", type=int, required=True)
    build.add_argument("--batch-size", type=int, default=128)
    build.add_argument("--lr", type=float, default=0.1)
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--latency-rounds", type=int, default=3)
    build.add_argument("--workers", type=int, default=2, help="architectures trained at once")
    build.add_argument(
        "--compile-only", action="store_true", help="only write the table from finished progress"
    )
    build.set_defaults(handler=_cmd_bench_build)

    comp = bench_sub.add_parser(
        "compare", help="run searchers x seeds on a table and compare them to its true front"
    )
    comp.add_argument("--table", required=True, help="table name (e.g. fashion-dpp) or path")
    comp.add_argument(
        "--objectives",
        metavar="M1,M2[,...]",
        help="metrics of the table to optimise, e.g. accuracy,latency/raspi4 (default: the "
        "table's declared objectives); reference point: each metric's worst in the table",
    )
    comp.add_argument(
        "--searchers", default="random,nsga2,tpe", help="comma-separated searcher names"
    )
    comp.add_argument("--budget", type=int, default=100, help="trials per run")
    comp.add_argument("--seeds", type=int, default=10, help="runs per searcher (seeds S..S+N-1)")
    comp.add_argument("--first-seed", type=int, default=0, metavar="S", help="default 0")
    comp.add_argument("--scheduler", default="fifo", help="fifo | moasha")
    comp.add_argument("--concurrency", type=int, default=2, help="trials at once per run")
    comp.add_argument(
        "--engine",
        choices=["tune", "direct"],
        default="tune",
        help="tune: real Tune runs; direct: the searchers driven in-process, one trial at a "
        "time, FIFO (fast, for many seeds)",
    )
    comp.add_argument("--out", default="results.json", help="results JSON (PNG beside it)")
    comp.add_argument(
        "-s",
        "--searcher-option",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an option of one searcher (VALUE is YAML), e.g. monas.reward=pareto; repeatable",
    )
    comp.set_defaults(handler=_cmd_bench_compare)
    _add_device_commands(sub)
    from dppnas.devices.commands import add_commands as _add_fewshot_commands

    _add_fewshot_commands(sub)
    _add_result_commands(sub)
    return parser


def _add_result_commands(sub) -> None:
    report = sub.add_parser(
        "report", help="front table, knee, budget picks, plots and report.html of a run"
    )
    report.add_argument("run", help="the run folder (holds pareto.json)")
    report.add_argument("--out", help="output folder (default RUN/report)")
    report.add_argument(
        "--with-references",
        action="store_true",
        help="also train the space's handcrafted references with the run's recipe",
    )
    report.set_defaults(handler=_cmd_report)

    export = sub.add_parser(
        "export", help="a trained front architecture as ONNX or TorchScript (verified)"
    )
    export.add_argument("run", help="the run folder (holds pareto.json)")
    _add_entry_choice(export)
    export.add_argument("--format", choices=["onnx", "torchscript"], required=True)
    export.add_argument("--out", required=True, help="file to write, e.g. model.onnx")
    export.set_defaults(handler=_cmd_export)

    retrain = sub.add_parser(
        "retrain", help="train a front architecture on a full budget as one Tune trial"
    )
    retrain.add_argument("run", help="the run folder (holds pareto.json)")
    _add_entry_choice(retrain)
    retrain.add_argument("--epochs", type=int, required=True, help="training epochs")
    retrain.add_argument("--storage", help="results folder (default RUN/retrain)")
    retrain.set_defaults(handler=_cmd_retrain)


def _add_entry_choice(parser: argparse.ArgumentParser) -> None:
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument(
        "--rank", type=int, help="position on the front, best first by the first objective"
    )
    choice.add_argument("--trial", help="a trial id of the run")


def _add_space_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--space", required=required, help="space name: dpp | monas | ...")
    parser.add_argument(
        "-o",
        "--space-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a space option (VALUE is YAML: 2, [8, 16], true); repeat for several",
    )


def _add_device_commands(sub) -> None:
    profile = sub.add_parser(
        "profile", help="build a per-layer latency table of this machine for a search space"
    )
    _add_space_arguments(profile)
    profile.add_argument("--out", required=True, help="table file to write, e.g. cpu.lut.json")
    profile.add_argument(
        "--device-name", default="local-cpu", help="name recorded in the table (e.g. jetson)"
    )
    profile.add_argument(
        "--input-shape", default="1,28,28", help="C,H,W of one input image (default 1,28,28)"
    )
    profile.add_argument("--num-classes", type=int, default=10)
    profile.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    profile.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    profile.add_argument("--batch-size", type=int, default=1)
    profile.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    profile.add_argument(
        "--statistic",
        choices=["median", "p25", "min"],
        default="min",
        help="summary of repeated calls, also used by latency-eval's reference (default min: "
        "foreign load only adds time, so the minimum is the most reproducible on a shared "
        "machine; median = what a `measured` device reports)",
    )
    profile.add_argument(
        "--calibration-networks",
        type=int,
        default=120,
        help="random whole networks timed to fit the calibration (default 120: with 30 the "
        "per-family scales overfit, see docs/benchmarks.md)",
    )
    profile.add_argument(
        "--rounds-summary",
        choices=["median", "min", "p25"],
        default=None,
        help="how a layer's or network's rounds are combined (default: as --statistic; foreign "
        "load spoils whole rounds, so the minimum is the most reproducible; median = the "
        "summary before 2026-12-06)",
    )
    profile.add_argument(
        "--calibration-groups",
        choices=["kernel", "family"],
        default=None,
        help="calibration scales per op family, with convolutions split by kernel size and "
        "groups (kernel, default for a new table) or per op family only (family: the form "
        "before 2026-12-06)",
    )
    profile.add_argument("--seed", type=int, default=0)
    profile.add_argument(
        "--extend", action="store_true", help="add to the table at --out instead of replacing it"
    )
    profile.set_defaults(handler=_cmd_profile)

    evaluate = sub.add_parser(
        "latency-eval", help="score a latency table on random held-out networks measured here"
    )
    _add_space_arguments(evaluate)
    evaluate.add_argument("--device-file", required=True, help="the table (from dppnas profile)")
    evaluate.add_argument("--n", type=int, default=200, help="networks to measure")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    evaluate.add_argument(
        "--reanchor",
        type=int,
        default=0,
        metavar="K",
        help="re-time K of the table's calibration networks in the same rounds and scale the "
        "predictions to this session's speed (default 0: off)",
    )
    evaluate.add_argument(
        "--rounds-summary",
        choices=["median", "min", "p25"],
        default=None,
        help="how a network's rounds are combined into its reference time (default: as the "
        "table combined its own)",
    )
    evaluate.add_argument("--out", required=True, help="results JSON, e.g. eval.json")
    evaluate.set_defaults(handler=_cmd_latency_eval)

    reanchor = sub.add_parser(
        "reanchor",
        help="re-time a latency table's calibration networks here and scale it to this "
        "session's machine speed",
    )
    reanchor.add_argument("--device-file", required=True, help="the table (updated in place)")
    reanchor.add_argument("--networks", type=int, default=20, help="calibration networks to time")
    reanchor.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    reanchor.add_argument("--seed", type=int, default=0)
    reanchor.set_defaults(handler=_cmd_reanchor)

    calibrate = sub.add_parser(
        "calibrate", help="fit a lut / roofline device to latencies measured on the real target"
    )
    calibrate.add_argument(
        "--device",
        required=True,
        help="a latency table (.json), a roofline spec name (dppnas devices) or a spec YAML",
    )
    calibrate.add_argument(
        "--measurements", required=True, help="CSV with columns arch (JSON) and latency_ms"
    )
    _add_space_arguments(calibrate)
    calibrate.add_argument("--input-shape", help="C,H,W (default: the table's)")
    calibrate.add_argument("--num-classes", type=int, help="default: the table's, else 10")
    calibrate.add_argument(
        "--per-family",
        choices=["auto", "yes", "no"],
        default="auto",
        help="per-op-family scales: auto = when leave-one-out error says so",
    )
    calibrate.add_argument("--out", help="file to write (default: the device file itself)")
    calibrate.set_defaults(handler=_cmd_calibrate)

    devices = sub.add_parser("devices", help="list the available devices and their sources")
    devices.add_argument(
        "tables", nargs="*", help="latency tables to list too (default: ./*.lut.json)"
    )
    devices.set_defaults(handler=_cmd_devices)


def _cmd_profile(args: argparse.Namespace) -> int:
    from dppnas.devices.lut import LookupTable
    from dppnas.devices.measured import MeasuredOptions
    from dppnas.devices.profile import profile_space
    from dppnas.errors import ConfigError, validate_section
    from dppnas.spaces import make_space

    out = check_output_file(args.out)
    space = make_space({"name": args.space, **space_options(args.space_option)})
    measure = validate_section(
        MeasuredOptions,
        {
            "device": args.device,
            "threads": args.threads,
            "batch_size": args.batch_size,
            "statistic": args.statistic,
        },
        "profile",
    )
    table = None
    if args.extend:
        if not out.is_file():
            raise ConfigError(f"--extend: {out} does not exist yet (drop --extend)")
        table = LookupTable.load(out)
    table = profile_space(
        space,
        input_shape=input_shape(args.input_shape),
        num_classes=args.num_classes,
        device_name=args.device_name,
        measure=measure,  # type: ignore[arg-type]
        rounds=args.rounds,
        calibration_networks=args.calibration_networks,
        seed=args.seed,
        table=table,
        rounds_summary=args.rounds_summary,
        groups=args.calibration_groups,
        log=lambda m: print(m, flush=True),
    )
    table.save(out)
    print(f"profile: wrote {out}")
    return 0


def _cmd_latency_eval(args: argparse.Namespace) -> int:
    from dppnas.devices.evaluate import evaluate_table
    from dppnas.devices.lut import LookupTable, write_json
    from dppnas.spaces import make_space

    out = check_output_file(args.out)
    table = LookupTable.load(args.device_file)
    # the space as profiled, unless options are given
    config = table.space_config(args.space) or {"name": args.space}
    config.update(space_options(args.space_option))
    space = make_space(config)
    result = evaluate_table(
        args.device_file,
        space,
        n=args.n,
        seed=args.seed,
        rounds=args.rounds,
        reanchor=args.reanchor,
        rounds_summary=args.rounds_summary,
        log=lambda m: print(m, flush=True),
    )
    write_json(result, out)
    r = result
    print(
        f"latency-eval: n={r['n']} within_10pct={r['within_10pct']:.3f} "
        f"within_5pct={r['within_5pct']:.3f} mape={r['mape']:.2f}% "
        f"spearman={_fmt(r['spearman'])} kendall={_fmt(r['kendall'])} "
        f"reference_spread={r['reference_spread']:.3f} "
        f"query={r['query_ms']['first_median']:.3f} ms (cached "
        f"{r['query_ms']['cached_median'] * 1e3:.1f} us) -> {args.out}"
    )
    if r["reanchor"]:
        a = r["reanchor"]
        print(
            f"latency-eval: re-anchored with {a['networks']} calibration networks: speed "
            f"factor {a['factor']:.3f}; unanchored within_10pct="
            f"{a['unanchored']['within_10pct']:.3f}"
        )
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _cmd_reanchor(args: argparse.Namespace) -> int:
    import copy

    from dppnas.devices.lut import LookupTable
    from dppnas.devices.reanchor import reanchor_table
    from dppnas.errors import ConfigError

    if args.rounds < 1:
        raise ConfigError("reanchor: --rounds must be at least 1")
    check_output_file(args.device_file, "--device-file")  # rewritten in place
    table = copy.deepcopy(LookupTable.load(args.device_file))  # loaded tables are shared
    record = reanchor_table(
        table,
        args.networks,
        rounds=args.rounds,
        seed=args.seed,
        log=lambda m: print(m, flush=True),
    )
    table.save(args.device_file)
    print(
        f"reanchor: speed factor {record['factor']:.4f} from {record['networks']} calibration "
        f"networks (spread of their ratios {record['ratio_spread']:.3f}); every time in "
        f"{args.device_file} scaled by it"
    )
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from dppnas.devices.calibrate import calibrate_device_file

    per_family = {"auto": None, "yes": True, "no": False}[args.per_family]
    if args.out:
        check_output_file(args.out)
    elif args.device.endswith(".json"):  # the table is rewritten in place
        check_output_file(args.device, "--device")
    out, calibration = calibrate_device_file(
        args.device,
        args.measurements,
        {"name": args.space, **space_options(args.space_option)},
        input_shape=input_shape(args.input_shape) if args.input_shape else None,
        num_classes=args.num_classes,
        per_family=per_family,
        out=args.out,
    )
    c = calibration
    loo = f", leave-one-out error {c.loo_mape:.2f} %" if c.loo_mape is not None else ""
    print(
        f"calibrate: {c.method} on {c.points} networks: intercept {c.intercept_ms:.4f} ms, "
        f"scales {', '.join(f'{f} {s:.4f}' for f, s in c.scales.items())}; fit error "
        f"{c.fit_mape:.2f} %{loo} -> {out}"
    )
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from dppnas.devices.catalog import available_devices

    rows = available_devices(args.tables or None)
    width = max(len(r[0]) for r in rows)
    kind_width = max(len(r[1]) for r in rows)
    print(f"{'NAME':<{width}}  {'KIND':<{kind_width}}  SOURCE OF THE NUMBERS")
    for name, kind, source in rows:
        print(f"{name:<{width}}  {kind:<{kind_width}}  {source}")
    return 0


def _cmd_bench_compare(args: argparse.Namespace) -> int:
    from dppnas.bench.compare import compare
    from dppnas.errors import ConfigError
    from dppnas.search import hide_token_notice

    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    for flag, value in (
        ("--budget", args.budget),
        ("--seeds", args.seeds),
        ("--concurrency", args.concurrency),
    ):
        if value < 1:
            raise ConfigError(f"{flag}: must be at least 1, got {value}")
    if args.first_seed < 0:
        raise ConfigError(f"--first-seed: must be at least 0, got {args.first_seed}")
    if not searchers:
        raise ConfigError("--searchers: name at least one searcher, e.g. random,nsga2")
    options: dict[str, dict[str, object]] = {}
    for pair in args.searcher_option:
        name, dot, rest = pair.partition(".")
        if not dot or name not in searchers:
            raise ConfigError(
                f"--searcher-option {pair!r}: expected NAME.KEY=VALUE with NAME one of "
                f"--searchers ({', '.join(searchers)}), e.g. monas.reward=pareto"
            )
        options.setdefault(name, {}).update(key_values([rest], "--searcher-option"))
    out = check_output_file(args.out)
    check_output_file(out.with_suffix(".png"), "--out (its PNG)")
    hide_token_notice()
    compare(
        args.table,
        searchers,
        args.budget,
        args.seeds,
        args.scheduler,
        args.concurrency,
        out,
        log=lambda m: print(m, flush=True),
        options=options,
        first_seed=args.first_seed,
        objectives=[m.strip() for m in args.objectives.split(",")] if args.objectives else None,
        engine=args.engine,
    )
    return 0


def _cmd_bench_build(args: argparse.Namespace) -> int:
    from dppnas.bench.build import TableSpec, run_build
    from dppnas.errors import ConfigError, validate_section
    from dppnas.search import hide_token_notice
    from dppnas.spaces import make_space

    if args.workers < 1:
        raise ConfigError(f"--workers: must be at least 1, got {args.workers}")
    # the full option set (defaults included) is the recipe; a bad option fails here
    space = make_space({"name": args.space, **space_options(args.space_option)})
    spec = validate_section(
        TableSpec,
        {
            "name": args.name,
            "space": space.config(),
            "dataset": {"name": args.dataset, "train_subset": args.train_subset, "seed": args.seed},
            "train": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "lr": args.lr,
                "checkpoint_every": 0,
                "device": "cpu",
            },
            "seed": args.seed,
            "latency_rounds": args.latency_rounds,
        },
        "bench build",
    )
    hide_token_notice()
    run_build(spec, workers=args.workers, compile_only=args.compile_only)
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from dppnas.config import load_experiment
    from dppnas.search import run_search

    overrides = {"num_samples": args.num_samples, "name": args.name, "storage_path": args.storage}
    experiment = load_experiment(args.experiment, overrides)
    return run_search(experiment, address=args.address, resume=args.resume, verbose=args.verbose)


def _cmd_report(args: argparse.Namespace) -> int:
    from dppnas.results import load_run
    from dppnas.results.report import write_report

    if args.out:
        check_output_folder(args.out)
    run = load_run(args.run)
    out = check_output_folder(Path(args.out) if args.out else run.path / "report")
    report, text = write_report(run, out, with_references=args.with_references)
    print(text)
    print(f"report: wrote {', '.join(str(f) for f in report.files)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from dppnas.export import export_trial
    from dppnas.results import load_run

    out = check_output_file(args.out)
    run = load_run(args.run)
    done = export_trial(run, out, args.format, rank=args.rank, trial_id=args.trial)
    print(
        f"export: trial {done.trial_id} -> {done.path} ({args.format}); max abs diff to "
        f"torch on a random input {done.max_abs_diff:.3g}"
    )
    return 0


def _cmd_retrain(args: argparse.Namespace) -> int:
    from dppnas.results import load_run
    from dppnas.retrain import retrain

    run = load_run(args.run)
    storage = Path(args.storage) if args.storage else None
    check_output_folder(storage or run.path / "retrain", "--storage")
    trial_id, metrics, path = retrain(
        run, args.epochs, rank=args.rank, trial_id=args.trial, storage=storage
    )
    costs = ", ".join(
        f"{k} {v:.4g}"
        for k, v in metrics.items()
        if k.startswith(("latency/", "energy/")) and isinstance(v, int | float)
    )
    print(
        f"retrain: trial {trial_id}, {args.epochs} epochs: test accuracy "
        f"{metrics.get('test_accuracy', float('nan')):.4f}, val accuracy "
        f"{metrics.get('accuracy', float('nan')):.4f}, params {metrics.get('params')}, "
        f"flops {metrics.get('flops')}; {costs} -> {path}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dppnas`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except DppnasError as err:
        print(f"dppnas: error: {_one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except _PATH_ERRORS as err:  # a path the checks where inputs enter did not foresee
        where = f"{err.filename}: " if err.filename else ""
        print(f"dppnas: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dppnas: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


#: OSErrors that a wrong path given by the user causes (not a full disk, not a bug's)
_PATH_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def _one_line(message: str) -> str:
    """The message on one line, cut to a length a terminal shows whole."""
    return short_text(" ".join(message.split()), 2000)


def console() -> None:  # pragma: no cover - thin wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
