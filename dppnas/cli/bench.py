"""``dppnas bench build`` (train a reduced space into a table) and ``dppnas bench compare``
(searchers x seeds on a table against its true front)."""

from __future__ import annotations

import argparse

from dppnas.cli.arguments import add_space_arguments, key_values, space_options
from dppnas.paths import check_output_file


def add_commands(sub) -> None:
    """Register ``bench build`` and ``bench compare`` on the ``dppnas`` subparsers."""
    bench = sub.add_parser("bench", help="offline tabular benchmark: build tables, compare")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = bench_sub.add_parser(
        "build", help="train every architecture of a reduced space into a table (resumable)"
    )
    build.add_argument("--name", required=True, help="table name, e.g. fashion-dpp")
    add_space_arguments(build)
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
