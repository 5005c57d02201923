"""Signature covers: a few architectures of a space whose layers include every layer signature
any architecture of the space can have, so that ``dppnas profile`` need not build them all.

A cover is registered per space name (:data:`SIGNATURE_COVERS`); a space without one is
covered by enumerating all of its architectures when there are few enough. Each cover rests on
an argument about which decisions a layer's shapes depend on (in its docstring), and
``tests/test_devices.py`` checks it against random architectures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dppnas.errors import DppnasError
from dppnas.registry import Registry
from dppnas.spaces import SearchSpace, arch_key, enumerate_architectures

Cover = Callable[[SearchSpace], Iterator[dict[str, Any]]]

SIGNATURE_COVERS: Registry[Cover] = Registry("signature cover")

#: spaces without a registered cover are enumerated up to this many architectures
ENUMERATION_LIMIT = 20_000


@SIGNATURE_COVERS.register("dpp")
def _dpp_cover(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """Cells made of one repeated ``(norm, conv)`` pair, at every depth.

    Every cell position has an input width that does not depend on the cell (each cell adds
    ``growth`` channels). Within a cell, layer ``j`` maps ``in`` (j = 0) or ``bottleneck *
    growth`` (j > 0) channels to ``growth`` (last layer) or ``bottleneck * growth`` channels,
    so its signature depends only on its own (norm, conv) and on (j = 0, j = last). A
    homogeneous cell of depth d has the four (first, last) cases for d = 1, 2, 3.
    """
    o = space.options
    for depth in range(1, o.max_depth + 1):
        for norm in o.norms:
            for conv in o.convs:
                arch: dict[str, Any] = {"depth": depth}
                for i in range(1, o.max_depth + 1):
                    arch[f"norm{i}"], arch[f"conv{i}"] = norm, conv
                yield arch


@SIGNATURE_COVERS.register("monas")
def _monas_cover(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """For each layer, every (previous filters, height, width, filters), the rest fixed.

    Conv layer ``i``'s signature depends on its own three decisions and on the filters of
    layer ``i - 1`` (its input width); the resolution is fixed by the position. BN, ReLU and
    pooling after it depend on its filters; the classifier on the last layer's filters.
    """
    o = space.options
    first = {"h": o.filter_heights[0], "w": o.filter_widths[0], "f": o.filters[0]}
    for i in range(1, o.num_layers + 1):
        previous = o.filters if i > 1 else [None]
        for f_prev in previous:
            for kh in o.filter_heights:
                for kw in o.filter_widths:
                    for f in o.filters:
                        arch: dict[str, Any] = {}
                        for j in range(1, o.num_layers + 1):
                            h, w, n = first["h"], first["w"], first["f"]
                            if j == i - 1:
                                n = f_prev
                            elif j == i:
                                h, w, n = kh, kw, f
                            arch[f"layer{j}_filter_height"] = h
                            arch[f"layer{j}_filter_width"] = w
                            arch[f"layer{j}_filters"] = n
                        yield arch


@SIGNATURE_COVERS.register("nb201")
def _nb201_cover(space: SearchSpace) -> Iterator[dict[str, Any]]:
    """The cell with no edge, and one cell per op with that op on all six edges.

    Every edge op of every cell maps ``C`` to ``C`` channels at its stage's resolution, so its
    signature depends only on the op and the stage; the node sums add tensors of the cell's
    own shape; stem, reduction blocks and head are the same in every architecture. A cell of
    one op on all six edges has every edge live; the cell with no edge outputs zeros.
    """
    names = [d.name for d in space.decisions]
    for op in space.decisions[0].choices:
        yield dict.fromkeys(names, op)


def covering_architectures(space: SearchSpace) -> list[dict[str, Any]]:
    """Distinct canonical architectures of ``space`` that together have every signature."""
    if space.name in SIGNATURE_COVERS:
        seen: dict[str, dict[str, Any]] = {}
        for arch in SIGNATURE_COVERS.get(space.name)(space):
            canonical = space.encode(space.decode(arch))
            seen.setdefault(arch_key(canonical), canonical)
        return list(seen.values())
    try:
        return enumerate_architectures(space, limit=ENUMERATION_LIMIT)
    except ValueError:
        raise DppnasError(
            f"space {space.name!r} has more than {ENUMERATION_LIMIT} architectures and no "
            f"signature cover; reduce its options (-o KEY=VALUE) or register a cover in "
            f"dppnas.profiling.coverage.SIGNATURE_COVERS"
        ) from None
