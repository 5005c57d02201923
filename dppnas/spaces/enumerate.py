"""An architecture's canonical key, and every distinct architecture of a (reduced) search space
in a fixed order."""

from __future__ import annotations

import itertools
import json
from typing import Any

from dppnas.spaces.base import SearchSpace


def arch_key(arch: dict[str, Any]) -> str:
    """A canonical string key of an architecture (sorted JSON of its canonical encoding)."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))


def enumerate_architectures(space: SearchSpace, limit: int = 200_000) -> list[dict[str, Any]]:
    """All distinct genotypes of ``space`` as canonical arch dicts (decode -> encode).

    Raises ``ValueError`` when the raw product of choices exceeds ``limit`` (reduce the
    space's options first: a tabular benchmark trains every architecture).
    """
    decisions = space.decisions
    raw = 1
    for d in decisions:
        raw *= len(d.choices)
    if raw > limit:
        raise ValueError(f"space {space.name} has {raw} raw combinations (> {limit}); reduce it")
    seen: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(d.choices for d in decisions)):
        arch = space.encode(
            space.decode(dict(zip((d.name for d in decisions), values, strict=True)))
        )
        seen.setdefault(arch_key(arch), arch)
    return list(seen.values())
