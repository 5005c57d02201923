"""Layer signatures of any model, by tracing one forward pass on an empty batch.

The model runs once on ``N = 0`` images (shapes propagate, no arithmetic), in eval mode, with
global module hooks and a :class:`~torch.overrides.TorchFunctionMode`: atomic modules and
container calls give their signatures (:mod:`dppnas.signatures.layer`); tensor functions
called between modules are recorded too, views and metadata ignored. With ``keep_calls`` each
layer keeps what it takes to call it again alone, which ``dppnas profile`` times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.overrides import (
    TorchFunctionMode,
    _get_function_stack_at,
    _len_torch_function_stack,
    _pop_torch_function_stack,
    _push_on_torch_function_stack,
)

from dppnas.nn import CondensedConv, LearnedGroupConv
from dppnas.signatures.layer import MODULE_CALL, LayerSignature, Shape, module_signature

#: tensor functions that only view or describe a tensor: not layers
_NOT_LAYERS = {
    "view",
    "reshape",
    "contiguous",
    "size",
    "dim",
    "squeeze",
    "unsqueeze",
    "permute",
    "transpose",
    "expand",
    "detach",
    "to",
    "type",
    "narrow",
    "select",
    "getitem",
    "get",
    "numel",
    "requires_grad_",
    "split",
    "chunk",
}
_ALIASES = {"concat": "cat", "concatenate": "cat", "radd": "add", "iadd": "add", "rmul": "mul"}


# --- tracing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorSpec:
    """A placeholder for an activation tensor of per-image ``shape`` in a recorded call."""

    shape: Shape


@dataclass
class TracedLayer:
    """One recorded layer: its signature and, when kept, how to call it again in isolation."""

    signature: LayerSignature
    module: nn.Module | None = None
    function: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def make_call(self, batch_size: int = 1, device: str = "cpu") -> Callable[[], Any]:
        """A zero-argument callable running this layer on random inputs of ``batch_size``."""

        def materialise(value: Any) -> Any:
            if isinstance(value, TensorSpec):
                return torch.randn(batch_size, *value.shape, device=device)
            if isinstance(value, list | tuple):
                return type(value)(materialise(v) for v in value)
            if isinstance(value, dict):
                return {k: materialise(v) for k, v in value.items()}
            if isinstance(value, Tensor):
                return value.to(device)
            return value

        args = materialise(self.args)
        kwargs = materialise(self.kwargs)
        if self.signature.op == "module_call":
            target: Callable[..., Any] = nn.Sequential().to(device)
            x = torch.zeros(batch_size, 1, device=device)
            return lambda: target(x)
        if self.module is not None:
            module = self.module
            if isinstance(module, LearnedGroupConv):  # time the form that is deployed
                from dppnas.nn import deploy

                module = deploy(module)
            module = module.to(device).eval()
            return lambda: module(*args, **kwargs)
        assert self.function is not None
        fn = self.function
        return lambda: fn(*args, **kwargs)


def _spec_of(value: Any) -> Any:
    """Replace every activation tensor (batch dimension 0) by its :class:`TensorSpec`."""
    if isinstance(value, Tensor):
        if value.dim() >= 1 and value.shape[0] == 0:
            return TensorSpec(tuple(int(s) for s in value.shape[1:]))
        return value.detach().clone()
    if isinstance(value, list | tuple):
        return type(value)(_spec_of(v) for v in value)
    if isinstance(value, dict):
        return {k: _spec_of(v) for k, v in value.items()}
    return value


def _shapes(value: Any) -> list[Shape]:
    """Per-image shapes of the activation tensors in ``value`` (flattened, in order)."""
    if type(value) is tuple and len(value) == 1:
        value = value[0]  # the common case: one input tensor
    if isinstance(value, Tensor):
        shape = tuple(value.shape)
        return [shape[1:]] if shape and shape[0] == 0 else []
    if isinstance(value, list | tuple):
        return [s for v in value for s in _shapes(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _shapes(v)]
    return []


def _describe_args(value: Any) -> Any:
    if isinstance(value, Tensor):
        return "T"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(_describe_args(v)) for v in value) + "]"
    return repr(value)


def _function_op(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", repr(func)).strip("_")
    return _ALIASES.get(name, name)


class _Tracer(TorchFunctionMode):
    """Records the layers of one forward pass (see the module docstring)."""

    def __init__(self, keep_calls: bool) -> None:
        super().__init__()
        self.thread = threading.get_ident()  # the hooks are global: ignore other threads
        self.training: list[nn.Module] = []  # modules switched to eval for the trace
        self.keep_calls = keep_calls
        self.depth_in_atomic = 0  # > 0 while inside an atomic module's forward
        self.suspended = False  # the mode is off the stack (inside an atomic module)
        self.stack: list[tuple[nn.Module, Any]] = []  # atomic modules entered, with their inputs
        self.layers: list[TracedLayer] = []

    # Inside a layer no function needs recording: take the mode off torch's stack there, so
    # the layer's own ops run at full speed (the trace then costs about 2 forward passes).
    def _suspend(self) -> None:
        depth = _len_torch_function_stack()
        if depth and _get_function_stack_at(depth - 1) is self:
            _pop_torch_function_stack()
            self.suspended = True

    def _resume(self) -> None:
        if self.suspended:
            _push_on_torch_function_stack(self)
            self.suspended = False

    def pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if threading.get_ident() != self.thread:
            return
        if module.training:  # eval mode, switched lazily (restored after the trace)
            module.training = False
            self.training.append(module)
        if self.depth_in_atomic:
            self.depth_in_atomic += 1
        elif not module._modules or isinstance(module, CondensedConv):
            self.depth_in_atomic = 1
            self._suspend()
            recorded = _spec_of(args) if self.keep_calls else None
            self.stack.append((module, (_shapes(args), recorded)))
        else:
            self.layers.append(TracedLayer(MODULE_CALL))

    def post_hook(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if not self.depth_in_atomic or threading.get_ident() != self.thread:
            return
        self.depth_in_atomic -= 1
        if self.depth_in_atomic:
            return
        top, (shapes, recorded) = self.stack.pop()
        assert top is module, "unbalanced module hooks while tracing layer signatures"
        outputs = _shapes(output)
        layer = TracedLayer(module_signature(top, shapes, outputs[0] if outputs else ()))
        if recorded is not None:
            layer.module, layer.args = module, recorded
        self.layers.append(layer)
        self._resume()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth_in_atomic or not isinstance(out, Tensor):
            return out
        if not (out.dim() >= 1 and out.shape[0] == 0):
            return out
        op = _function_op(func)
        if op in _NOT_LAYERS:
            return out
        inputs = _shapes((args, kwargs))
        if not inputs:
            return out
        attrs: tuple[tuple[str, Any], ...] = ()
        if op == "cat":
            attrs = (("dim", kwargs.get("dim", args[1] if len(args) > 1 else 0)),)
        elif any(not isinstance(a, Tensor | list | tuple) for a in args) or kwargs:
            attrs = (("args", _describe_args(list(args))),)
            if kwargs:
                attrs += (("kwargs", repr(sorted(kwargs.items(), key=str))),)
        layer = TracedLayer(LayerSignature(op, tuple(inputs), _shapes(out)[0], attrs))
        if self.keep_calls:
            layer.function, layer.args, layer.kwargs = func, _spec_of(args), _spec_of(kwargs)
        self.layers.append(layer)
        return out


def trace_layers(
    model: nn.Module, input_shape: Sequence[int], keep_calls: bool = False
) -> list[TracedLayer]:
    """The layers of one forward pass of ``model`` on one input of ``input_shape`` (C, H, W).

    Runs ``model`` in eval mode on an empty batch (training flags are restored). With
    ``keep_calls`` each layer keeps what :meth:`TracedLayer.make_call` needs to time it alone.
    """
    tracer = _Tracer(keep_calls)
    handles = [
        register_module_forward_pre_hook(tracer.pre_hook),
        register_module_forward_hook(tracer.post_hook),
    ]
    x = torch.zeros(0, *(int(s) for s in input_shape))
    try:
        with torch.inference_mode(), tracer:
            try:
                model(x)
            finally:
                tracer._resume()  # an error inside a layer leaves the mode suspended
    finally:
        for handle in handles:
            handle.remove()
        for module in tracer.training:
            module.training = True
    return tracer.layers
