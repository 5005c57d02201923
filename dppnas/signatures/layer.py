"""Layer signatures: the key of a per-layer latency table (nn-Meter's "kernels", simplified).

A signature is what the time of one layer depends on: the op, its input and output shapes (per
image: C, H, W) and its hyper-parameters (kernel, stride, padding, groups, ...). A network's
signatures (:func:`dppnas.signatures.network.layer_signatures`) are

* one per call of an *atomic* module (one without children, or a
  :class:`~dppnas.nn.CondensedConv`: its ``index_select`` + grouped conv + shuffle is one layer);
* a ``module_call`` per call of any other module (``Sequential``, a cell, the network): the
  Python dispatch a whole network pays around its layers;
* one per tensor function called between modules (``torch.cat`` of a dense cell, ``flatten``).

They are read statically for networks of :mod:`dppnas.nn` classes
(:mod:`~dppnas.signatures.static`) and traced otherwise (:mod:`~dppnas.signatures.tracing`).
A :class:`~dppnas.nn.LearnedGroupConv` (a network that was not deployed) counts as the condensed
conv :func:`dppnas.nn.deploy` would make of it, so both forms cost the same.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from dppnas.nn import CondensedConv, LearnedGroupConv

Shape = tuple[int, ...]

#: op families, each of which may get its own calibration scale
FAMILIES: tuple[str, ...] = (
    "conv",
    "grouped_conv",
    "norm",
    "activation",
    "pool",
    "linear",
    "overhead",
    "other",
)

_ACTIVATIONS = {"relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "leakyrelu"}
_OVERHEAD = {"module_call", "identity", "cat", "flatten", "add", "mul", "stack"}


def _plain(value: Any) -> Any:
    """JSON-able value of an attribute: tuples become lists."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    """Inverse of :func:`_plain`: lists become tuples (hashable)."""
    if isinstance(value, list | tuple):
        return tuple(_tupled(v) for v in value)
    return value


def _shape_text(shape: Shape) -> str:
    return "x".join(str(s) for s in shape) if shape else "-"


def _attr_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "x".join(_attr_text(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class LayerSignature:
    """One layer as a latency table sees it; ``inputs`` and ``output`` are per-image shapes."""

    op: str
    inputs: tuple[Shape, ...] = ()
    output: Shape = ()
    attrs: tuple[tuple[str, Any], ...] = ()

    @functools.cached_property
    def key(self) -> str:
        """A readable, unique text key, e.g. ``conv2d(16x28x28->32x28x28; kernel=3x3, ...)``."""
        shapes = "+".join(_shape_text(s) for s in self.inputs) + "->" + _shape_text(self.output)
        if self.op == "module_call":
            return "module_call()"
        attrs = ", ".join(f"{k}={_attr_text(v)}" for k, v in self.attrs)
        return f"{self.op}({shapes}; {attrs})" if attrs else f"{self.op}({shapes})"

    def attr(self, name: str, default: Any = None) -> Any:
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @functools.cached_property
    def family(self) -> str:
        """The op family (:data:`FAMILIES`) whose calibration scale applies."""
        op = self.op
        if op == "conv2d":
            return "conv" if self.attr("groups", 1) == 1 else "grouped_conv"
        if op == "condensed_conv":
            return "grouped_conv"
        if op == "batch_norm":
            return "norm"
        if op in _ACTIVATIONS:
            return "activation"
        if "pool" in op:
            return "pool"
        if op == "linear":
            return "linear"
        if op in _OVERHEAD:
            return "overhead"
        return "other"

    @functools.cached_property
    def kernel_group(self) -> str:
        """The family, split by kernel size and group count for a convolution
        (``conv:k3x3:g1``; a finer calibration group, see ``calibration.group_of``)."""
        if self.op != "conv2d":
            return self.family
        kernel = "x".join(str(k) for k in self.attr("kernel", ()))
        return f"{self.family}:k{kernel}:g{self.attr('groups', 1)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "inputs": [list(s) for s in self.inputs],
            "output": list(self.output),
            "attrs": {k: _plain(v) for k, v in self.attrs},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LayerSignature:
        return cls(
            op=str(data["op"]),
            inputs=tuple(tuple(int(d) for d in s) for s in data.get("inputs", ())),
            output=tuple(int(d) for d in data.get("output", ())),
            attrs=tuple((str(k), _tupled(v)) for k, v in dict(data.get("attrs", {})).items()),
        )


MODULE_CALL = LayerSignature("module_call")


def _pair(value: Any) -> Any:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


def module_signature(module: nn.Module, inputs: Sequence[Shape], output: Shape) -> LayerSignature:
    """The signature of one call of the atomic ``module`` (per-image shapes)."""
    inputs = tuple(inputs)
    if isinstance(module, CondensedConv):
        attrs = (
            ("kernel", _pair(module.kernel_size)),
            ("groups", module.groups),
            ("kept", int(module.index.numel())),
        )
        return LayerSignature("condensed_conv", inputs, output, attrs)
    if isinstance(module, LearnedGroupConv):
        return _learned_group_signature(module, inputs, output)
    if isinstance(module, nn.Conv2d):
        attrs = (
            ("kernel", _pair(module.kernel_size)),
            ("stride", _pair(module.stride)),
            ("padding", _pair(module.padding)),
            ("dilation", _pair(module.dilation)),
            ("groups", module.groups),
            ("bias", module.bias is not None),
        )
        return LayerSignature("conv2d", inputs, output, attrs)
    if isinstance(module, nn.BatchNorm2d):
        return LayerSignature("batch_norm", inputs, output)
    if isinstance(module, nn.Identity):
        return LayerSignature("identity", inputs, output)
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        op = "max_pool2d" if isinstance(module, nn.MaxPool2d) else "avg_pool2d"
        attrs = (
            ("kernel", _pair(module.kernel_size)),
            ("stride", _pair(module.stride)),
            ("padding", _pair(module.padding)),
        )
        return LayerSignature(op, inputs, output, attrs)
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        op = (
            "adaptive_" + ("avg" if isinstance(module, nn.AdaptiveAvgPool2d) else "max") + "_pool2d"
        )
        return LayerSignature(op, inputs, output, (("output_size", _pair(module.output_size)),))
    if isinstance(module, nn.Linear):
        return LayerSignature("linear", inputs, output, (("bias", module.bias is not None),))
    name = type(module).__name__.lower()
    if name in _ACTIVATIONS:
        return LayerSignature(name, inputs, output)
    kind = f"module:{type(module).__module__}.{type(module).__qualname__}"
    return LayerSignature(kind, inputs, output, (("repr", module.extra_repr()),))


def _learned_group_signature(
    module: LearnedGroupConv, inputs: tuple[Shape, ...], output: Shape
) -> LayerSignature:
    """What :meth:`CondensedConv.from_learned` makes of ``module`` once fully condensed."""
    if module.num_stages == 0:
        attrs = (
            ("kernel", module.kernel_size),
            ("stride", (1, 1)),
            ("padding", module.padding),
            ("dilation", (1, 1)),
            ("groups", 1),
            ("bias", False),
        )
        return LayerSignature("conv2d", inputs, output, attrs)
    attrs = (
        ("kernel", module.kernel_size),
        ("groups", module.groups),
        ("kept", module.groups * module.kept_per_group),
    )
    return LayerSignature("condensed_conv", inputs, output, attrs)
