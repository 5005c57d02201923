"""MONAS's AlexNet-like target network (Hsu et al., 2018, after Zoph & Le, 2017).

A plain stack of ``conv (kh x kw, "same" padding, no bias) -> BN -> ReLU`` layers, each with its
own filter height, width and count, then global average pooling and a linear classifier. A 2x2
max-pooling (stride 2) follows every ``pool_every``-th conv layer (ours: the papers do not give
the pooling layout; ``pool_every=0`` never pools). A pooling that would shrink a side to 0 is
skipped on that side.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dppnas.nn.ops import Conv, pool_kernel


class LayerwiseCNN(nn.Module):
    """``layers`` is a sequence of ``(filter_height, filter_width, filters)``."""

    def __init__(
        self,
        layers: Sequence[tuple[int, int, int]],
        input_shape: tuple[int, int, int],
        num_classes: int,
        pool_every: int = 2,
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        modules: list[nn.Module] = []
        for i, (kh, kw, filters) in enumerate(layers, start=1):
            modules += [Conv(channels, filters, (kh, kw)), nn.BatchNorm2d(filters), nn.ReLU()]
            channels = filters
            if pool_every > 0 and i % pool_every == 0:
                kernel = pool_kernel(height, width)
                if kernel is not None:
                    modules.append(nn.MaxPool2d(kernel))
                    height, width = height // kernel[0], width // kernel[1]
        self.features = nn.Sequential(*modules)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)
        self.num_features = channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
