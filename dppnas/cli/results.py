"""The commands on a finished run: ``dppnas report``, ``export`` and ``retrain``."""

from __future__ import annotations

import argparse
from pathlib import Path

from dppnas.paths import check_output_file, check_output_folder


def add_commands(sub) -> None:
    """Register ``report``, ``export`` and ``retrain`` on the ``dppnas`` subparsers."""
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
