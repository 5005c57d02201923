"""CondenseNet's learned group convolution (Huang et al., "CondenseNet: An Efficient DenseNet
using Learned Group Convolutions", CVPR 2018) and its deployment form.

Training (:class:`LearnedGroupConv`): a dense ``k x k`` conv whose weight is multiplied by a
0/1 ``mask`` buffer. The output channels are split into ``groups`` groups, interleaved as in
CondenseNet (group ``i`` = output channels ``i, i + G, i + 2G, ...``). During the first half of
the training budget, at each of ``condense_factor - 1`` evenly spaced stages, every group drops
the ``in_channels // condense_factor`` input channels whose weights *in that group* have the
smallest L1 norm; from then on the mask is fixed, and each group keeps
``in_channels // condense_factor`` inputs. The trainer reports the share of the budget spent
with :func:`set_condensation_progress`; the drop happens in the next forward pass in train mode.
(CondenseNet's group-lasso regulariser is not applied; it is a loss term, outside the op.)

Inference (:func:`deploy`): each learned group conv becomes a :class:`CondensedConv` —
``index_select`` of the kept input channels, a grouped conv and a channel shuffle that restores
the interleaved output order (CondenseNet's ``CondenseConv`` + ``ShuffleLayer``); the outputs
equal the masked conv's.

Progress and stage are per module (no global state): two models in one process do not interfere.
Mask and stage are buffers, so ``state_dict`` round-trips a partly condensed model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from copy import deepcopy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CACHE_ATTR = "_dppnas_learned_group_convs"


def condensation_stage(progress: float, condense_factor: int) -> int:
    """How many condensation stages are done at ``progress`` (CondenseNet's schedule).

    Stage ``k`` of ``condense_factor - 1`` is reached at ``progress = k / (2 (condense_factor-1))``;
    every stage is done from ``progress = 0.5`` on.
    """
    stages = condense_factor - 1
    if stages <= 0:
        return 0
    for i in range(stages):
        if progress * 2 < (i + 1) / stages:
            return i
    return stages


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` channel blocks: channel ``i*C/G + k`` goes to ``k*G + i``."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class LearnedGroupConv(nn.Module):
    """CondenseNet's learned group convolution (training form), stride 1, "same" padding, no bias.

    ``out_channels`` must be divisible by ``groups``; ``in_channels`` need not be divisible by
    ``condense_factor``: each group then keeps ``max(1, in_channels // condense_factor)`` inputs,
    the drops being spread as evenly as possible over the stages (ours; CondenseNet requires
    divisibility, where the two rules agree).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        groups: int = 4,
        condense_factor: int = 4,
    ) -> None:
        super().__init__()
        if groups < 1 or out_channels % groups:
            raise ValueError(f"out_channels={out_channels} is not divisible by groups={groups}")
        if condense_factor < 1:
            raise ValueError(f"condense_factor must be >= 1, got {condense_factor}")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.padding = (kernel_size // 2, kernel_size // 2)
        self.groups = groups
        self.condense_factor = condense_factor
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.register_buffer("mask", torch.ones(out_channels, in_channels))
        self.register_buffer("stage", torch.zeros((), dtype=torch.long))
        self._stage = 0  # Python mirror of the ``stage`` buffer: no device sync in forward
        self._target_stage = 0

    @property
    def num_stages(self) -> int:
        """Number of dropping stages (``condense_factor - 1``)."""
        return max(0, self.condense_factor - 1)

    @property
    def kept_per_group(self) -> int:
        """Input channels each group keeps once every stage is done."""
        if self.num_stages == 0:
            return self.in_channels
        return max(1, self.in_channels // self.condense_factor)

    def drop_at(self, stage: int) -> int:
        """Input channels each group drops at (0-based) ``stage``."""
        n = self.num_stages
        if not 0 <= stage < n:
            return 0
        total = self.in_channels - self.kept_per_group
        return (stage + 1) * total // n - stage * total // n

    def set_progress(self, progress: float) -> None:
        """Record the training progress; the due stages are applied in the next train forward."""
        self._target_stage = condensation_stage(progress, self.condense_factor)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self._target_stage > self._stage:
            self.condense_to(self._target_stage)
        weight = self.weight * self.mask[:, :, None, None]
        return F.conv2d(x, weight, None, 1, self.padding)

    @torch.no_grad()
    def condense_to(self, stage: int) -> None:
        """Apply every dropping stage up to ``stage`` (capped at :attr:`num_stages`)."""
        stage = min(stage, self.num_stages)
        while self._stage < stage:
            self._drop(self.drop_at(self._stage))
            self._stage += 1
        self.stage.fill_(self._stage)

    def _drop(self, delta: int) -> None:
        if delta <= 0:
            return
        g = self.groups
        importance = (self.weight * self.mask[:, :, None, None]).abs().sum(dim=(2, 3))
        for i in range(g):
            norms = importance[i::g].sum(0)
            norms = torch.where(self.mask[i] > 0, norms, torch.full_like(norms, math.inf))
            dropped = torch.argsort(norms, stable=True)[:delta]
            self.mask[i::g, dropped] = 0.0

    def kept_inputs(self) -> list[Tensor]:
        """For each group, the (sorted) indices of the input channels it still uses."""
        return [torch.nonzero(self.mask[i] > 0).flatten() for i in range(self.groups)]

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        self._stage = int(self.stage)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"groups={self.groups}, condense_factor={self.condense_factor}"
        )


class CondensedConv(nn.Module):
    """Deployment form of a learned group conv (CondenseNet's ``CondenseConv``).

    ``index_select`` of the ``groups * kept`` input channels the groups use, a grouped conv, then
    a channel shuffle back to the interleaved output order of :class:`LearnedGroupConv`.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        groups: int,
        index: Tensor,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.groups = groups
        self.register_buffer("index", index.to(torch.long))
        self.conv = nn.Conv2d(
            int(index.numel()),
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=groups,
            bias=False,
        )

    @classmethod
    def from_learned(cls, source: LearnedGroupConv) -> nn.Module:
        """Convert ``source`` as it is masked now; a plain conv when no input was dropped."""
        g = source.groups
        kernel = source.kernel_size[0]
        weight = source.weight.detach() * source.mask[:, :, None, None]
        kept = source.kept_inputs()
        if all(k.numel() == source.in_channels for k in kept):
            dense = nn.Conv2d(
                source.in_channels, source.out_channels, kernel, padding=kernel // 2, bias=False
            )
            dense.weight.data.copy_(weight)
            return dense.to(weight.device, weight.dtype)
        if len({k.numel() for k in kept}) != 1:
            raise ValueError("groups keep different numbers of inputs; cannot condense")
        module = cls(source.in_channels, source.out_channels, kernel, g, torch.cat(kept))
        # condensed row i*d_out + k  <-  original output channel i + k*g, kept inputs of group i
        new_weight = torch.cat([weight[i::g][:, kept[i]] for i in range(g)], dim=0)
        module.conv.weight.data.copy_(new_weight)
        return module.to(weight.device, weight.dtype)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x.index_select(1, self.index))
        return channel_shuffle(x, self.groups) if self.groups > 1 else x

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"groups={self.groups}, kept={self.index.numel()}"
        )


def learned_group_convs(model: nn.Module) -> list[LearnedGroupConv]:
    """The learned group convs of ``model``, cached on the model (a non-module attribute)."""
    convs = model.__dict__.get(_CACHE_ATTR)
    if convs is None:
        convs = [m for m in model.modules() if isinstance(m, LearnedGroupConv)]
        model.__dict__[_CACHE_ATTR] = convs
    return convs


def set_condensation_progress(model: nn.Module, progress: float) -> None:
    """Tell every learned group conv of ``model`` the share of the training budget spent.

    ``progress`` is clipped to ``[0, 1]``. Cheap enough to call every step: the module list is
    cached on ``model`` and the drops happen only when a stage boundary is crossed.
    """
    if math.isnan(progress):
        raise ValueError("condensation progress is NaN")
    progress = min(1.0, max(0.0, float(progress)))
    for conv in learned_group_convs(model):
        conv.set_progress(progress)


def deploy(model: nn.Module, copy: bool = True) -> nn.Module:
    """A deep copy of ``model`` for inference, in eval mode.

    Every learned group conv is finalised (all condensation stages applied) and replaced by its
    :class:`CondensedConv`; ``model`` itself is untouched. Use it to count FLOPs and parameters
    and to time latency. ``copy=False`` converts ``model`` in place instead (for a throwaway
    module: the deep copy is most of the cost of deploying a single layer).
    """
    if copy:
        model = deepcopy(model)
    for module in model.modules():
        module.__dict__.pop(_CACHE_ATTR, None)
    if isinstance(model, LearnedGroupConv):
        model.condense_to(model.num_stages)
        return CondensedConv.from_learned(model).eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, LearnedGroupConv):
                child.condense_to(child.num_stages)
                setattr(module, name, CondensedConv.from_learned(child))
    return model.eval()
