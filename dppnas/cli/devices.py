"""The latency-table and device-model commands: ``dppnas profile``, ``latency-eval``,
``reanchor``, ``calibrate`` and ``devices``."""

from __future__ import annotations

import argparse

from dppnas.cli.arguments import add_space_arguments, input_shape, space_options
from dppnas.paths import check_output_file


def add_commands(sub) -> None:
    """Register the device commands on the ``dppnas`` subparsers."""
    profile = sub.add_parser(
        "profile", help="build a per-layer latency table of this machine for a search space"
    )
    add_space_arguments(profile)
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
        choices=["backend", "kernel", "family"],
        default=None,
        help="calibration scales per op family with convolutions split by kernel size and "
        "groups, plus a time per call of each convolution backend (backend, default for a new "
        "table); the same without the call times (kernel: the default before call times); or per "
        "op family only (family: the form before 2026-12-06)",
    )
    profile.add_argument("--seed", type=int, default=0)
    profile.add_argument(
        "--extend", action="store_true", help="add to the table at --out instead of replacing it"
    )
    profile.set_defaults(handler=_cmd_profile)

    evaluate = sub.add_parser(
        "latency-eval", help="score a latency table on random held-out networks measured here"
    )
    add_space_arguments(evaluate)
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
    add_space_arguments(calibrate)
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
    from dppnas.errors import ConfigError, validate_section
    from dppnas.profiling.profile import profile_space
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
    from dppnas.devices.lut import LookupTable, write_json
    from dppnas.profiling.evaluate import evaluate_table
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
    from dppnas.errors import ConfigError
    from dppnas.profiling.reanchor import reanchor_table

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
    from dppnas.profiling.calibrate import calibrate_device_file

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
        f"calibrate: {c.method} on {c.points} networks: {c.summary()}; fit error "
        f"{c.fit_mape:.2f} %{loo} -> {out}"
    )
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from dppnas.profiling.catalog import available_devices

    rows = available_devices(args.tables or None)
    width = max(len(r[0]) for r in rows)
    kind_width = max(len(r[1]) for r in rows)
    print(f"{'NAME':<{width}}  {'KIND':<{kind_width}}  SOURCE OF THE NUMBERS")
    for name, kind, source in rows:
        print(f"{name:<{width}}  {kind:<{kind_width}}  {source}")
    return 0
