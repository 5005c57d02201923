"""Durable JSON-lines logs: one record a line, fsynced, readable after a kill at any moment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def append_line(path: str | Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line and fsync it (a kill loses at most that line)."""
    path = Path(path)
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
    with open(path, "a") as f:
        # a kill mid-write leaves a torn last line: end it so this record stays whole
        f.write(("\n" if torn else "") + json.dumps(record, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_lines(path: str | Path) -> list[dict[str, Any]]:
    """Every whole record of ``path`` in order ([] when it does not exist); a line torn by a
    kill is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
