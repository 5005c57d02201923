"""The few-shot device commands: ``dppnas fewshot`` (build a device from N measurements) and
``dppnas latency-transfer`` (HELP's protocol on a table of measured devices)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dppnas.cli.arguments import input_shape, space_options
from dppnas.errors import ConfigError

DEFAULT_TABLE = "nb201-hw"
AVERAGE_HELP = (
    "average up to this many of the best models by leave-one-out error (default {default}, "
    "ours; 1: the single best model)"
)


def add_commands(sub) -> None:
    """Register ``fewshot`` and ``latency-transfer`` on the ``dppnas`` subparsers."""
    from dppnas.devices.fewshot import AVERAGE
    from dppnas.profiling.transfer import HELP_META_TEST

    transfer = sub.add_parser(
        "latency-transfer",
        help="few-shot latency transfer to unseen devices (HELP's protocol) on a measured table",
    )
    transfer.add_argument(
        "--table", default=DEFAULT_TABLE, help="table name or nb201-hw style CSV (.csv[.gz])"
    )
    transfer.add_argument(
        "--targets", default=",".join(HELP_META_TEST), help="comma-separated target devices"
    )
    transfer.add_argument(
        "--references",
        help="comma-separated reference devices (default: HELP's meta-train and meta-valid)",
    )
    transfer.add_argument("--samples", type=int, default=10, help="measured architectures")
    transfer.add_argument("--draws", type=int, default=20, help="random draws per target")
    transfer.add_argument("--seed", type=int, default=0)
    transfer.add_argument(
        "--average", type=int, default=AVERAGE, help=AVERAGE_HELP.format(default=AVERAGE)
    )
    transfer.add_argument("--out", required=True, help="results JSON, e.g. transfer.json")
    transfer.set_defaults(handler=_cmd_latency_transfer)

    fewshot = sub.add_parser(
        "fewshot", help="build a device model from N architectures measured on the target"
    )
    fewshot.add_argument(
        "--measurements",
        required=True,
        help="CSV with columns arch (JSON), latency_ms and optionally energy_mj",
    )
    source = fewshot.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", help="reference table (e.g. nb201-hw) or nb201-hw style CSV")
    source.add_argument("--space", help="or: features from the networks of this space")
    fewshot.add_argument(
        "-o",
        "--space-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a space option (VALUE is YAML), with --space",
    )
    fewshot.add_argument(
        "--references",
        help="comma-separated reference devices of --table (default: all of them), or latency "
        "tables (.lut.json) of profiled reference devices with --space",
    )
    fewshot.add_argument("--input-shape", help="C,H,W measured at (with --space)")
    fewshot.add_argument("--num-classes", type=int, default=10, help="with --space")
    fewshot.add_argument("--device-name", default="target", help="name recorded in the file")
    fewshot.add_argument(
        "--average", type=int, default=AVERAGE, help=AVERAGE_HELP.format(default=AVERAGE)
    )
    fewshot.add_argument("--out", required=True, help="device file, e.g. phone.fewshot.json")
    fewshot.set_defaults(handler=_cmd_fewshot)


def _names(text: str, flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{flag}: name at least one device, e.g. raspi4")
    return names


def _cmd_latency_transfer(args: argparse.Namespace) -> int:
    from dppnas.devices.lut import now_iso, write_json
    from dppnas.devices.reference_table import load_reference_latencies
    from dppnas.profiling.transfer import HELP_META_TRAIN, HELP_META_VALID, transfer_scores

    targets = _names(args.targets, "--targets")
    table = load_reference_latencies(args.table)
    if args.references:
        references = _names(args.references, "--references")
    else:
        references = [d for d in (*HELP_META_TRAIN, *HELP_META_VALID) if d in table.latencies]
    result = transfer_scores(
        table.features,
        table.latencies,
        targets,
        references,
        samples=args.samples,
        draws=args.draws,
        seed=args.seed,
        average=args.average,
        log=lambda m: print(m, flush=True),
    )
    result.update({"table": table.source, "date": now_iso()})
    write_json(result, args.out)
    s = result["summary"]
    print(f"latency-transfer: wrote {args.out}")
    print(f"mean_spearman={s['mean_spearman']:.4f} min_within_10pct={s['min_within_10pct']:.4f}")
    return 0


def _cmd_fewshot(args: argparse.Namespace) -> int:
    from dppnas.profiling.fewshot import build_fewshot, save_fewshot

    refs = _names(args.references, "--references") if args.references else None
    space = {"name": args.space, **space_options(args.space_option)} if args.space else None
    device = build_fewshot(
        args.measurements,
        args.table,
        refs,
        device=args.device_name,
        space=space,
        input_shape=input_shape(args.input_shape) if args.input_shape else None,
        num_classes=args.num_classes,
        average=args.average,
    )
    save_fewshot(device, Path(args.out))
    m = device.latency
    energy = f"; energy {device.energy.label}" if device.energy else ""
    print(
        f"fewshot: {m.label} on {m.points} architectures (of {m.candidates} models tried), "
        f"leave-one-out error ~{(m.loo_log_rmse or 0) * 100:.1f} %, fit error "
        f"{m.fit_mape:.1f} %{energy} -> {args.out}; use it as {{kind: fewshot, path: {args.out}}}"
    )
    return 0
