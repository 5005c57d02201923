"""The layer signatures of a whole network, read statically where :mod:`dppnas.nn` rules
cover it (:mod:`dppnas.signatures.static`), traced otherwise
(:mod:`dppnas.signatures.tracing`), and cached per model object."""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from torch import nn

from dppnas.signatures.layer import LayerSignature, Shape
from dppnas.signatures.static import NoRule, static_signatures
from dppnas.signatures.tracing import trace_layers

_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[Shape, tuple[LayerSignature, ...]]] = (
    weakref.WeakKeyDictionary()
)


def layer_signatures(model: nn.Module, input_shape: Sequence[int]) -> tuple[LayerSignature, ...]:
    """The signatures of ``model``'s layers at ``input_shape``, cached per model object.

    Networks made of :mod:`dppnas.nn` classes are read statically
    (:mod:`dppnas.signatures.static`); any other model is traced. The cache assumes a model's layer structure does not change after its first query (true of
    the networks built by the search spaces; condensation keeps shapes).
    """
    shape = tuple(int(s) for s in input_shape)
    per_model = _CACHE.get(model)
    if per_model is None:
        per_model = {}
        _CACHE[model] = per_model
    found = per_model.get(shape)
    if found is None:
        try:
            found = tuple(static_signatures(model, shape))
        except NoRule:
            found = tuple(layer.signature for layer in trace_layers(model, shape))
        per_model[shape] = found
    return found
