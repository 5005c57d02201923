"""Ops (plain, group, depthwise-separable and CondenseNet learned group conv) and builders."""

from dppnas.nn.alexnet import LayerwiseCNN
from dppnas.nn.condense import (
    CondensedConv,
    LearnedGroupConv,
    condensation_stage,
    deploy,
    learned_group_convs,
    set_condensation_progress,
)
from dppnas.nn.dense import DenseCell, DenseNet
from dppnas.nn.ops import (
    NORMS,
    OPS,
    BNReLU,
    Conv,
    DepthwiseSeparableConv,
    GroupConv,
    effective_groups,
    make_norm,
    make_op,
    pool_kernel,
)

__all__ = [
    "NORMS",
    "OPS",
    "BNReLU",
    "CondensedConv",
    "Conv",
    "DenseCell",
    "DenseNet",
    "DepthwiseSeparableConv",
    "GroupConv",
    "LayerwiseCNN",
    "LearnedGroupConv",
    "condensation_stage",
    "deploy",
    "effective_groups",
    "learned_group_convs",
    "make_norm",
    "make_op",
    "pool_kernel",
    "set_condensation_progress",
]
