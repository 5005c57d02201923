"""Convolution and normalisation ops of the search spaces.

Every op is its own :class:`torch.nn.Module` class with its hyper-parameters as attributes
(``in_channels``, ``out_channels``, ``kernel_size``, ``groups``), so that a device profile can
enumerate layer signatures by walking ``model.modules()``.

All convolutions are stride 1 with "same" padding (``k // 2``) and no bias: they are followed by
a normalisation in the networks built here (DenseNet-BC / CondenseNet convention).

``OPS`` maps a conv name of the DPP-Net space (Dong et al., ECCV 2018, Sec. 3.1) to a factory
``factory(c_in, c_out, *, groups, condense_factor) -> nn.Module``; ``NORMS`` maps a norm name to
``factory(channels) -> nn.Module``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch import nn

from dppnas.nn.condense import LearnedGroupConv
from dppnas.registry import Registry

OpFactory = Callable[..., nn.Module]
NormFactory = Callable[[int], nn.Module]

OPS: Registry[OpFactory] = Registry("conv op")
NORMS: Registry[NormFactory] = Registry("norm")


def _pair(kernel_size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(kernel_size, int):
        return kernel_size, kernel_size
    kh, kw = kernel_size
    return int(kh), int(kw)


def effective_groups(groups: int, c_in: int, c_out: int) -> int:
    """The number of groups actually used: ``gcd(groups, c_in, c_out)``.

    A group conv needs both channel counts divisible by its group count; in a dense network the
    input width grows by ``growth`` per cell and need not be, so we fall back to the largest
    group count that divides both (ours; CondenseNet chooses widths that are always divisible).
    """
    return max(1, math.gcd(max(1, groups), c_in, c_out))


class Conv(nn.Conv2d):
    """A ``kh x kw`` convolution, stride 1, "same" padding ``(kh // 2, kw // 2)``, no bias."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        groups: int = 1,
    ) -> None:
        kh, kw = _pair(kernel_size)
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernel sizes must be odd for 'same' padding, got {kh}x{kw}")
        super().__init__(
            in_channels,
            out_channels,
            (kh, kw),
            stride=1,
            padding=(kh // 2, kw // 2),
            groups=groups,
            bias=False,
        )


class GroupConv(Conv):
    """A group convolution (ResNeXt / CondenseNet's 3x3 group conv): ``groups`` disjoint parts."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int], groups: int
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, groups=groups)


class DepthwiseSeparableConv(nn.Module):
    """A ``k x k`` depthwise conv on the input channels, then a 1x1 pointwise conv (MobileNet).

    A cell layer changes the width (``c_in -> c_out``), which a depthwise conv alone cannot, hence
    the pointwise part. No normalisation between the two (the cell's norms sit between layers).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.depthwise = Conv(in_channels, in_channels, kernel_size, groups=in_channels)
        self.pointwise = Conv(in_channels, out_channels, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class BNReLU(nn.Sequential):
    """BatchNorm2d followed by ReLU (the pre-activation of DenseNet-BC / CondenseNet)."""

    def __init__(self, channels: int) -> None:
        super().__init__(nn.BatchNorm2d(channels), nn.ReLU())


# --- registries -------------------------------------------------------------------------------

NORMS.register("bn_relu")(BNReLU)
NORMS.register("bn")(nn.BatchNorm2d)
NORMS.register("identity")(lambda channels: nn.Identity())


@OPS.register("conv1x1")
def _conv1x1(c_in: int, c_out: int, *, groups: int = 1, condense_factor: int = 1) -> nn.Module:
    return Conv(c_in, c_out, 1)


@OPS.register("conv3x3")
def _conv3x3(c_in: int, c_out: int, *, groups: int = 1, condense_factor: int = 1) -> nn.Module:
    return Conv(c_in, c_out, 3)


@OPS.register("gconv1x1")
def _gconv1x1(c_in: int, c_out: int, *, groups: int = 4, condense_factor: int = 1) -> nn.Module:
    return GroupConv(c_in, c_out, 1, groups=effective_groups(groups, c_in, c_out))


@OPS.register("gconv3x3")
def _gconv3x3(c_in: int, c_out: int, *, groups: int = 4, condense_factor: int = 1) -> nn.Module:
    return GroupConv(c_in, c_out, 3, groups=effective_groups(groups, c_in, c_out))


@OPS.register("dwconv3x3")
def _dwconv3x3(c_in: int, c_out: int, *, groups: int = 1, condense_factor: int = 1) -> nn.Module:
    return DepthwiseSeparableConv(c_in, c_out, 3)


@OPS.register("lgconv1x1")
def _lgconv1x1(c_in: int, c_out: int, *, groups: int = 4, condense_factor: int = 4) -> nn.Module:
    return LearnedGroupConv(
        c_in,
        c_out,
        1,
        groups=effective_groups(groups, c_in, c_out),
        condense_factor=condense_factor,
    )


def make_norm(name: str, channels: int) -> nn.Module:
    """The norm called ``name`` on ``channels`` channels."""
    return NORMS.get(name)(channels)


def make_op(
    name: str, c_in: int, c_out: int, *, groups: int = 4, condense_factor: int = 4
) -> nn.Module:
    """The conv op called ``name`` mapping ``c_in`` to ``c_out`` channels."""
    return OPS.get(name)(c_in, c_out, groups=groups, condense_factor=condense_factor)


def pool_kernel(height: int, width: int) -> tuple[int, int] | None:
    """Kernel (= stride) of a 2x2 pooling that keeps both sides >= 1, or ``None`` to skip it.

    A side of length 1 is not pooled (ours: lets one network definition run on 8x8 digits as
    well as 32x32 CIFAR); a 1x1 map is not pooled at all.
    """
    kernel = (2 if height >= 2 else 1, 2 if width >= 2 else 1)
    return None if kernel == (1, 1) else kernel
