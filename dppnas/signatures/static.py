"""Layer signatures of the networks built by :mod:`dppnas.nn`, computed without running them.

A fast path for :func:`dppnas.signatures.network.layer_signatures`: shapes are propagated
through the known module classes by rule (a few microseconds per module instead of a traced
forward pass), so a latency query on a fresh network stays well under a millisecond. Each rule
mirrors one class's ``forward``; a model with any other module class, or an option a rule does
not handle, raises :class:`NoRule` and is traced instead. ``tests/test_devices.py`` checks
that both paths agree on every space.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dppnas.nn import (
    CondensedConv,
    DenseCell,
    DenseNet,
    DepthwiseSeparableConv,
    LayerwiseCNN,
    LearnedGroupConv,
)
from dppnas.signatures.layer import (
    MODULE_CALL,
    LayerSignature,
    Shape,
    module_signature,
)


class NoRule(Exception):
    """The model has a module (or an option) without a static rule."""


Out = list[LayerSignature]


def _conv_out(module: nn.Conv2d, shape: Shape) -> Shape:
    if isinstance(module.padding, str) or len(shape) != 3:
        raise NoRule
    c, h, w = shape
    (kh, kw), (sh, sw) = module.kernel_size, module.stride
    (ph, pw), (dh, dw) = module.padding, module.dilation
    return (
        module.out_channels,
        (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
        (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1,
    )


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _pool_out(module: nn.MaxPool2d | nn.AvgPool2d, shape: Shape) -> Shape:
    if getattr(module, "ceil_mode", False) or getattr(module, "dilation", 1) not in (1, (1, 1)):
        raise NoRule
    c, h, w = shape
    (kh, kw), (sh, sw) = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    ph, pw = _pair(module.padding)
    return (c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def _atomic_out(module: nn.Module, shape: Shape) -> Shape:
    if isinstance(module, CondensedConv | LearnedGroupConv):
        return (module.out_channels, *shape[1:])
    if isinstance(module, nn.Conv2d):
        return _conv_out(module, shape)
    if type(module) in (nn.BatchNorm2d, nn.ReLU, nn.Identity):
        return shape
    if type(module) in (nn.MaxPool2d, nn.AvgPool2d):
        return _pool_out(module, shape)  # type: ignore[arg-type]
    if type(module) is nn.AdaptiveAvgPool2d:
        oh, ow = _pair(module.output_size)  # type: ignore[arg-type]
        return (shape[0], oh, ow)
    if type(module) is nn.Linear and shape == (module.in_features,):
        return (module.out_features,)
    raise NoRule


def _layer(module: nn.Module, shape: Shape, out: Out) -> Shape:
    """Append the signatures of one call of ``module`` on ``shape``; return its output shape."""
    rule = _RULES.get(type(module))
    if rule is not None:
        out.append(MODULE_CALL)
        return rule(module, shape, out)
    if type(module).forward is nn.Sequential.forward:  # also BNReLU
        out.append(MODULE_CALL)
        for child in module.children():
            shape = _layer(child, shape, out)
        return shape
    if isinstance(module, CondensedConv) or not module._modules:
        result = _atomic_out(module, shape)
        out.append(module_signature(module, (shape,), result))
        return result
    raise NoRule


def _dense_cell(module: DenseCell, shape: Shape, out: Out) -> Shape:
    grown = _layer(module.layers, shape, out)
    result = (shape[0] + grown[0], *shape[1:])
    out.append(LayerSignature("cat", (shape, grown), result, (("dim", 1),)))
    return result


def _flatten(shape: Shape, out: Out) -> Shape:
    flat = 1
    for side in shape:
        flat *= side
    out.append(LayerSignature("flatten", (shape,), (flat,), (("args", "[T, 1]"),)))
    return (flat,)


def _dense_net(module: DenseNet, shape: Shape, out: Out) -> Shape:
    shape = _layer(module.features, shape, out)
    shape = _layer(module.head, shape, out)
    shape = _layer(module.pool, shape, out)
    return _layer(module.classifier, _flatten(shape, out), out)


def _layerwise_cnn(module: LayerwiseCNN, shape: Shape, out: Out) -> Shape:
    shape = _layer(module.pool, _layer(module.features, shape, out), out)
    return _layer(module.classifier, _flatten(shape, out), out)


def _depthwise_separable(module: DepthwiseSeparableConv, shape: Shape, out: Out) -> Shape:
    return _layer(module.pointwise, _layer(module.depthwise, shape, out), out)


_RULES: dict[type, Callable[..., Shape]] = {
    DenseCell: _dense_cell,
    DenseNet: _dense_net,
    LayerwiseCNN: _layerwise_cnn,
    DepthwiseSeparableConv: _depthwise_separable,
}


def static_signatures(model: nn.Module, input_shape: Shape) -> list[LayerSignature]:
    """The layer signatures of ``model`` at ``input_shape``; :class:`NoRule` if unknown."""
    out: Out = []
    _layer(model, tuple(input_shape), out)
    return out
