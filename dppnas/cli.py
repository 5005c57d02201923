"""``dppnas`` command line: ``dppnas search EXPERIMENT.yaml`` (more subcommands join per issue).

User errors print one line ``dppnas: error: ...`` on stderr, no traceback, exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
    return parser


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
