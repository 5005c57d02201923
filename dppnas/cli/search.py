"""``dppnas search``: run a search described by an experiment file (``--resume`` continues one)."""

from __future__ import annotations

import argparse


def add_commands(sub) -> None:
    """Register ``search`` on the ``dppnas`` subparsers."""
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


def _cmd_search(args: argparse.Namespace) -> int:
    from dppnas.config import load_experiment
    from dppnas.search import run_search

    overrides = {"num_samples": args.num_samples, "name": args.name, "storage_path": args.storage}
    experiment = load_experiment(args.experiment, overrides)
    return run_search(experiment, address=args.address, resume=args.resume, verbose=args.verbose)
