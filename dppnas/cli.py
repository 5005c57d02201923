"""``dppnas`` command line: ``dppnas search EXPERIMENT.yaml`` (more subcommands join per issue).

User errors print one line ``dppnas: error: ...`` on stderr, no traceback, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from dppnas.errors import DppnasError

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dppnas", description="Device-aware, Pareto-optimal neural architecture search."
    )
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
    build.add_argument("--space", required=True, help="space name: dpp | monas | ...")
    build.add_argument(
        "-o",
        "--space-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a space option (VALUE is YAML: 2, [8, 16], true); repeat for several",
    )
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
        "--searchers", default="random,nsga2,tpe", help="comma-separated searcher names"
    )
    comp.add_argument("--budget", type=int, default=100, help="trials per run")
    comp.add_argument("--seeds", type=int, default=10, help="runs per searcher (seeds 0..N-1)")
    comp.add_argument("--scheduler", default="fifo", help="fifo | moasha")
    comp.add_argument("--concurrency", type=int, default=2, help="trials at once per run")
    comp.add_argument("--out", default="results.json", help="results JSON (PNG beside it)")
    comp.set_defaults(handler=_cmd_bench_compare)
    return parser


def _cmd_bench_compare(args: argparse.Namespace) -> int:
    from dppnas.bench.compare import compare
    from dppnas.errors import ConfigError

    searchers = [s.strip() for s in args.searchers.split(",") if s.strip()]
    for flag, value in (
        ("--budget", args.budget),
        ("--seeds", args.seeds),
        ("--concurrency", args.concurrency),
    ):
        if value < 1:
            raise ConfigError(f"{flag}: must be at least 1, got {value}")
    if not searchers:
        raise ConfigError("--searchers: name at least one searcher, e.g. random,nsga2")
    compare(
        args.table,
        searchers,
        args.budget,
        args.seeds,
        args.scheduler,
        args.concurrency,
        Path(args.out),
        log=lambda m: print(m, flush=True),
    )
    return 0


def _space_options(pairs: Sequence[str]) -> dict[str, object]:
    import yaml

    from dppnas.errors import ConfigError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--space-option {pair!r}: expected KEY=VALUE, e.g. max_depth=2")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--space-option {pair!r}: VALUE is not valid YAML") from None
    return options


def _cmd_bench_build(args: argparse.Namespace) -> int:
    from dppnas.bench.build import TableSpec, run_build
    from dppnas.errors import validate_section
    from dppnas.spaces import make_space

    # the full option set (defaults included) is the recipe; a bad option fails here
    space = make_space({"name": args.space, **_space_options(args.space_option)})
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
    run_build(spec, workers=args.workers, compile_only=args.compile_only)
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from dppnas.config import load_experiment
    from dppnas.search import run_search

    overrides = {"num_samples": args.num_samples, "name": args.name, "storage_path": args.storage}
    experiment = load_experiment(args.experiment, overrides)
    return run_search(experiment, address=args.address, resume=args.resume, verbose=args.verbose)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dppnas`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DppnasError as err:
        print(f"dppnas: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dppnas: interrupted", file=sys.stderr)
        return 130


def console() -> None:  # pragma: no cover - thin wrapper
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
