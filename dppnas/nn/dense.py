"""The dense backbone of CondenseNet (Huang et al., CVPR 2018) and DPP-Net (Dong et al., ECCV 2018).

stem (3x3 conv, ``stem_width`` channels; optionally 2x2 average pooling, ``stem_pool``, ours)
-> for each stage ``s``: ``cells_per_stage[s]`` densely
connected cells of growth ``growth[s]`` -> between stages a 2x2 average-pooling transition
(CondenseNet's pooling-only transitions; skipped where the map is 1x1) -> BN + ReLU -> global
average pooling -> linear classifier.

A cell is a sequence of (norm, conv) layers applied in order to the cell input; intermediate
convs output ``bottleneck * growth`` channels (DenseNet-BC / CondenseNet bottleneck), the last
conv ``growth``; the cell output is concatenated to its input, so a cell widens the map by
``growth`` channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dppnas.nn.ops import BNReLU, Conv, make_norm, make_op, pool_kernel


class DenseCell(nn.Module):
    """A densely connected cell: ``cat([x, layers(x)])``, ``in_channels + growth`` channels."""

    def __init__(
        self,
        layers: Sequence[tuple[str, str]],
        in_channels: int,
        growth: int,
        *,
        bottleneck: int = 4,
        groups: int = 4,
        condense_factor: int = 4,
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("a cell needs at least one (norm, conv) layer")
        self.in_channels = in_channels
        self.growth = growth
        self.out_channels = in_channels + growth
        modules: list[nn.Module] = []
        width = in_channels
        for j, (norm, conv) in enumerate(layers):
            out = growth if j == len(layers) - 1 else bottleneck * growth
            modules.append(make_norm(norm, width))
            modules.append(
                make_op(conv, width, out, groups=groups, condense_factor=condense_factor)
            )
            width = out
        self.layers = nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.layers(x)], dim=1)


class DenseNet(nn.Module):
    """The dense backbone; every stage uses the same cell (PNAS / DPP-Net style)."""

    def __init__(
        self,
        cell: Sequence[tuple[str, str]],
        input_shape: tuple[int, int, int],
        num_classes: int,
        *,
        stem_width: int = 16,
        cells_per_stage: Sequence[int] = (2, 2, 2),
        growth: Sequence[int] = (8, 16, 32),
        bottleneck: int = 4,
        groups: int = 4,
        condense_factor: int = 4,
        stem_pool: bool = False,
    ) -> None:
        super().__init__()
        if len(cells_per_stage) != len(growth):
            raise ValueError("cells_per_stage and growth need one entry per stage")
        channels, height, width = input_shape
        features: list[nn.Module] = [Conv(channels, stem_width, 3)]
        kernel = pool_kernel(height, width) if stem_pool else None
        if kernel is not None:  # ours: halves the cells' resolution for cheap proxy runs
            features.append(nn.AvgPool2d(kernel))
            height, width = height // kernel[0], width // kernel[1]
        width_c = stem_width
        for s, (n_cells, rate) in enumerate(zip(cells_per_stage, growth, strict=True)):
            if s > 0:
                kernel = pool_kernel(height, width)
                if kernel is not None:
                    features.append(nn.AvgPool2d(kernel))
                    height, width = height // kernel[0], width // kernel[1]
            cells = []
            for _ in range(n_cells):
                cells.append(
                    DenseCell(
                        cell,
                        width_c,
                        rate,
                        bottleneck=bottleneck,
                        groups=groups,
                        condense_factor=condense_factor,
                    )
                )
                width_c += rate
            features.append(nn.Sequential(*cells))
        self.features = nn.Sequential(*features)
        self.head = BNReLU(width_c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width_c, num_classes)
        self.num_features = width_c

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.head(self.features(x)))
        return self.classifier(torch.flatten(x, 1))
