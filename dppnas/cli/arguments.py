"""Values the command line parses the same way in every command: an input shape ``C,H,W``
and ``KEY=VALUE`` option pairs (each VALUE read as YAML), and the ``--space``/``-o`` flags.
Errors are one-line :class:`~dppnas.errors.ConfigError` s naming the flag."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dppnas.errors import ConfigError, short_text


def input_shape(text: str) -> tuple[int, int, int]:
    """``--input-shape C,H,W`` (channels, height, width in pixels), each side positive."""
    try:
        c, h, w = (int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--input-shape {text!r}: expected C,H,W, e.g. 1,28,28") from None
    if min(c, h, w) < 1:
        raise ConfigError(f"--input-shape {text!r}: sides must be positive")
    return c, h, w


def key_values(pairs: Sequence[str], flag: str) -> dict[str, object]:
    """``KEY=VALUE`` pairs of ``flag`` as a dict, each VALUE parsed as YAML."""
    import yaml

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} {pair!r}: expected KEY=VALUE, e.g. max_depth=2")
        try:
            options[key.strip()] = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: a 5,000-digit int
            raise ConfigError(f"{flag} {short_text(pair)!r}: VALUE is not valid YAML") from None
    return options


def space_options(pairs: Sequence[str]) -> dict[str, object]:
    """The search space's options given as ``--space-option KEY=VALUE`` (``-o``)."""
    return key_values(pairs, "--space-option")


def add_space_arguments(parser: argparse.ArgumentParser) -> None:
    """``--space NAME`` and the repeatable ``-o/--space-option KEY=VALUE``."""
    parser.add_argument("--space", required=True, help="space name: dpp | monas | ...")
    parser.add_argument(
        "-o",
        "--space-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a space option (VALUE is YAML: 2, [8, 16], true); repeat for several",
    )
