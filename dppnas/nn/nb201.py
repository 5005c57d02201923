"""NAS-Bench-201's cell network (Dong & Yang, "NAS-Bench-201", ICLR 2020), in PyTorch.

The network follows NB201's ``TinyNetwork`` / ``InferCell``: a 3x3 conv stem (+ BN); three
stages of ``N`` cells at ``C``, ``2C`` and ``4C`` channels with a residual reduction block
(NB201's ``ResNetBasicblock``, stride 2) between them; BN + ReLU; global average pooling; a
linear head. At NB201's own scale ``N = 5``, ``C = 16``.

A cell is a DAG of four nodes: node 0 is the cell input, node ``i`` (1..3) is the sum of one op
per edge ``i <- j`` (``j < i``), node 3 is the cell output. Ops (NB201's ``OPS``):

* ``none``: no edge (NB201 multiplies by zero: the same function, no work);
* ``skip_connect``: identity;
* ``nor_conv_1x1`` / ``nor_conv_3x3``: ReLU -> Conv (no bias, stride 1, "same") -> BN;
* ``avg_pool_3x3``: 3x3 average pooling, stride 1, padding 1, not counting the padding.

Unlike NB201's ``InferCell``, which runs every edge, edges whose result cannot reach the cell
output (or whose input is always zero) are not built: they do not change the function, only
the work (:func:`live_edges`). A cell whose output is always zero outputs zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: the ops of an edge, in NB201's order
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: the six edges ``(to, from)`` in NB201's cell-string order: 1<-0; 2<-0, 2<-1; 3<-0, 3<-1, 3<-2
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def live_edges(ops: Sequence[str]) -> tuple[bool, ...]:
    """Per edge (in :data:`NB201_EDGES` order): whether it changes the cell's output.

    An edge is live when its op is not ``none``, its source node carries a non-zero value
    (a non-``none`` path from the cell input) and its target node reaches the output (node 3)
    through non-``none`` edges. (A conv on an all-zero input would output BN's constant shift;
    like NB201's own isomorphism rule we count such an edge as dead.)
    """
    if len(ops) != len(NB201_EDGES):
        raise ValueError(f"an NB201 cell has {len(NB201_EDGES)} edges, got {len(ops)}")
    # written out for NB201's fixed four-node DAG: it runs for all 15,625 cells at once
    on = [op != "none" for op in ops]  # edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    nonzero1 = on[0]
    nonzero2 = on[1] or (nonzero1 and on[2])
    reaches2 = on[5] and nonzero2
    reaches1 = (on[4] or (on[2] and reaches2)) and nonzero1
    return (
        on[0] and reaches1,
        on[1] and reaches2,
        on[2] and nonzero1 and reaches2,
        on[3],
        on[4] and nonzero1,
        on[5] and nonzero2,
    )


class ReLUConvBN(nn.Sequential):
    """NB201's ``ReLUConvBN``: ReLU, a ``k x k`` conv (no bias, padding ``k // 2``), BN."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
            ),
            nn.BatchNorm2d(c_out),
        )


def make_edge_op(op: str, channels: int) -> nn.Module:
    """The module of one cell edge (``op`` in :data:`NB201_OPS`, not ``none``)."""
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"no module for NB201 op {op!r} (ops: {', '.join(NB201_OPS)})")


class NB201Cell(nn.Module):
    """One NB201 cell at ``channels`` channels (input and output), stride 1."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.ops = tuple(ops)
        live = live_edges(self.ops)
        self.channels = channels
        self.edges = nn.ModuleList()
        #: per built edge: (target node, source node)
        self.wiring: list[tuple[int, int]] = []
        for (to, src), op, alive in zip(NB201_EDGES, self.ops, live, strict=True):
            if alive:
                self.edges.append(make_edge_op(op, channels))
                self.wiring.append((to, src))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for module, (to, src) in zip(self.edges, self.wiring, strict=True):
            value = module(nodes[src])
            nodes[to] = value if nodes[to] is None else nodes[to] + value
        out = nodes[3]
        return torch.zeros_like(x) if out is None else out


class ResNetBasicBlock(nn.Module):
    """NB201's residual reduction block: two ReLUConvBN 3x3 (the first with ``stride``) plus a
    shortcut (2x2 average pooling then a 1x1 conv, when ``stride`` is 2)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        if stride == 2:
            self.downsample: nn.Module = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = ReLUConvBN(c_in, c_out, 1, 1)
        else:
            self.downsample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """NB201's ``TinyNetwork`` with one cell structure ``ops`` (six edge ops).

    ``cells_per_stage`` is NB201's ``N`` (5), ``channels`` its ``C`` (16); the input has
    ``in_channels`` channels (3 for CIFAR) and any size of at least 4x4.
    """

    def __init__(
        self,
        ops: Sequence[str],
        in_channels: int = 3,
        num_classes: int = 10,
        cells_per_stage: int = 5,
        channels: int = 16,
    ) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        cells: list[nn.Module] = []
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                cells.append(ResNetBasicBlock(width // 2, width, stride=2))
            cells.extend(NB201Cell(ops, width) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.global_pooling(x), 1))
