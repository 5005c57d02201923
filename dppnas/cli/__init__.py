"""``dppnas`` command line: the parser and the dispatch; one module per command group:
:mod:`~dppnas.cli.search` (``search``), :mod:`~dppnas.cli.bench` (``bench build|compare``),
:mod:`~dppnas.cli.devices` (``profile``, ``latency-eval``, ``reanchor``, ``calibrate``,
``devices``), :mod:`~dppnas.cli.fewshot` (``latency-transfer``, ``fewshot``) and
:mod:`~dppnas.cli.results` (``report``, ``export``, ``retrain``); shared flags and values in
:mod:`~dppnas.cli.arguments`.

User errors print one line ``dppnas: error: ...`` on stderr, no traceback, exit code 2;
Ctrl-C exits with code 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dppnas.cli import bench, devices, fewshot, results, search
from dppnas.errors import DppnasError, short_text

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

    search.add_commands(sub)
    bench.add_commands(sub)
    devices.add_commands(sub)
    fewshot.add_commands(sub)
    results.add_commands(sub)
    return parser


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
