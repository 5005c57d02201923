"""NAS-Bench-201's cell space (Dong & Yang, "NAS-Bench-201: Extending the Scope of
Reproducible Neural Architecture Search", ICLR 2020).

Six decisions, one per cell edge ``edge_{i}_{j}`` (node ``i`` <- node ``j``; NB201's cell-string
order ``edge_1_0, edge_2_0, edge_2_1, edge_3_0, edge_3_1, edge_3_2``), each one of ``none,
skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``: 5^6 = 15,625 encodings. The network
is NB201's (:class:`dppnas.nn.nb201.NB201Network`), ``N`` cells per stage at ``C`` channels
(NB201: 5 and 16; smaller for CPU proxies).

**Canonical form.** Many encodings are one network: an edge whose result cannot reach the
output, or whose input is always zero, changes nothing (:func:`~dppnas.nn.nb201.live_edges`),
and cells that differ by relabelling nodes 1 and 2 or by routing through ``skip_connect``
compute the same thing. :func:`cell_key` writes a cell as the expression of its output over
its live edges — every node the sum of its incoming terms, ``skip_connect`` passing its source's
terms on, any other op one term ``op(source)``, sums flattened and sorted (NB201's own
isomorphism rule, ``Structure.to_unique_str(consider_zero=True)``, without its nesting of sums)
— plus the number of live edges of each op, so that one conv used on two paths is not taken
for two convs. Two encodings are the same architecture when their keys are equal; the
canonical encoding of a class (:meth:`NB201Space.encode`) is its member whose choice indices
are lexicographically smallest (every dead edge ``none``). This gives **5,488** distinct
architectures. NB201 reports 6,466 for its rule; that rule, reproduced in
``tests/test_nb201.py``, does not see that a node whose inputs are all zero is zero (its sum
``#+#`` is kept as a term) and so keeps cells apart that compute the same thing (with that
fixed it gives 5,390; ours splits some of those again by the live-op counts).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, PositiveInt
from torch import nn

from dppnas.errors import DppnasError
from dppnas.nn.nb201 import NB201_EDGES, NB201_OPS, NB201Network, live_edges
from dppnas.spaces.base import SPACES, Decision, SearchSpace

#: decision names, in NB201's cell-string order (``edge_{to}_{from}``)
EDGE_NAMES: tuple[str, ...] = tuple(f"edge_{to}_{src}" for to, src in NB201_EDGES)


@dataclass(frozen=True)
class NB201Genotype:
    """An NB201 cell: the op of each edge in :data:`EDGE_NAMES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        if len(ops) != len(NB201_EDGES):
            raise ValueError(f"an NB201 cell has {len(NB201_EDGES)} edge ops, got {len(ops)}")
        for op in ops:
            if op not in NB201_OPS:
                raise ValueError(f"unknown NB201 op {op!r} (ops: {', '.join(NB201_OPS)})")
        object.__setattr__(self, "ops", ops)

    @property
    def string(self) -> str:
        """NB201's cell string, ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        nodes: list[str] = []
        for to in (1, 2, 3):
            edges = [
                f"{op}~{src}" for (t, src), op in zip(NB201_EDGES, self.ops, strict=True) if t == to
            ]
            nodes.append("|" + "|".join(edges) + "|")
        return "+".join(nodes)

    @classmethod
    def from_string(cls, text: str) -> NB201Genotype:
        """The cell of an NB201 cell string (``ValueError`` when it is not one)."""
        ops: list[str] = []
        nodes = text.strip().split("+")
        if len(nodes) != 3:
            raise ValueError(f"an NB201 cell string has 3 nodes joined by '+', got {text!r}")
        for to, node in enumerate(nodes, start=1):
            edges = [e for e in node.strip("|").split("|")]
            if len(edges) != to:
                raise ValueError(f"node {to} of {text!r} should have {to} edges")
            for src, edge in enumerate(edges):
                op, tilde, index = edge.partition("~")
                if not tilde or index != str(src):
                    raise ValueError(f"edge {edge!r} of {text!r} is not 'op~{src}'")
                ops.append(op)
        return cls(tuple(ops))


def cell_key(ops: Sequence[str]) -> str:
    """The canonical key of a cell (see the module docstring): equal keys, one network."""
    live = live_edges(ops)
    terms: list[tuple[str, ...]] = [("x",), (), (), ()]
    counts = dict.fromkeys(NB201_OPS[1:], 0)
    for (to, src), op, alive in zip(NB201_EDGES, ops, live, strict=True):
        if alive:
            counts[op] += 1
            if op == "skip_connect":
                terms[to] += terms[src]
            else:
                terms[to] += (op + "(" + "+".join(sorted(terms[src])) + ")",)
    return "+".join(sorted(terms[3])) + "|" + ",".join(map(str, counts.values()))


@functools.cache
def _canonical_ops() -> dict[tuple[str, ...], tuple[str, ...]]:
    """Every encoding's canonical member (lexicographically smallest choice indices)."""
    canonical: dict[str, tuple[str, ...]] = {}
    mapping: dict[tuple[str, ...], tuple[str, ...]] = {}
    # itertools.product in NB201_OPS order visits encodings in lexicographic index order
    for ops in itertools.product(NB201_OPS, repeat=len(NB201_EDGES)):
        mapping[ops] = canonical.setdefault(cell_key(ops), ops)
    return mapping


def canonical_cell(genotype: NB201Genotype) -> NB201Genotype:
    """The canonical member of ``genotype``'s class of equivalent cells."""
    return NB201Genotype(_canonical_ops()[genotype.ops])


def distinct_cells() -> int:
    """Number of distinct NB201 architectures under :func:`cell_key`."""
    return len(set(_canonical_ops().values()))


class NB201Options(BaseModel):
    """Options of the ``nb201`` space (NB201's scale by default)."""

    model_config = ConfigDict(extra="forbid")

    #: cells per stage, NB201's N (NB201: 5)
    cells_per_stage: PositiveInt = 5
    #: channels of the first stage, NB201's C (NB201: 16); stages use C, 2C, 4C
    channels: PositiveInt = 16


@SPACES.register("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201: six edges of one cell repeated ``3 * cells_per_stage`` times."""

    name: ClassVar[str] = "nb201"
    Options: ClassVar[type[BaseModel]] = NB201Options
    genotype_type: ClassVar[type] = NB201Genotype
    options: NB201Options

    def _decisions(self) -> Iterator[Decision]:
        for name in EDGE_NAMES:
            yield Decision(name, NB201_OPS)

    def decode(self, arch: Mapping[str, Any]) -> NB201Genotype:
        """The cell ``arch`` encodes, as given (not canonicalised: see :meth:`encode`)."""
        return NB201Genotype(tuple(self._value(arch, d) for d in self.decisions))

    def encode(self, genotype: NB201Genotype) -> dict[str, Any]:
        """The canonical architecture dict of ``genotype``'s class (see the module doc)."""
        if not isinstance(genotype, NB201Genotype):
            raise DppnasError(
                f"space 'nb201': expected an NB201Genotype, got {type(genotype).__name__}"
            )
        return dict(zip(EDGE_NAMES, canonical_cell(genotype).ops, strict=True))

    def arch_from_string(self, text: str) -> dict[str, Any]:
        """The architecture dict (as given, not canonicalised) of an NB201 cell string."""
        try:
            genotype = NB201Genotype.from_string(text)
        except ValueError as exc:
            raise DppnasError(f"space 'nb201': {exc}") from None
        return dict(zip(EDGE_NAMES, genotype.ops, strict=True))

    def arch_to_string(self, arch: Mapping[str, Any] | NB201Genotype) -> str:
        """NB201's cell string of ``arch`` (as given, not canonicalised)."""
        genotype = arch if isinstance(arch, NB201Genotype) else self.decode(arch)
        return genotype.string

    def size(self) -> int:
        return distinct_cells()

    def _describe(self, genotype: NB201Genotype) -> str:
        return genotype.string

    def _build(
        self, genotype: NB201Genotype, input_shape: tuple[int, int, int], num_classes: int
    ) -> nn.Module:
        c, h, w = input_shape
        if min(h, w) < 4:
            raise DppnasError(
                f"space 'nb201': the two reductions need an input of at least 4x4, got {h}x{w}"
            )
        o = self.options
        return NB201Network(
            genotype.ops,
            in_channels=c,
            num_classes=num_classes,
            cells_per_stage=o.cells_per_stage,
            channels=o.channels,
        )
