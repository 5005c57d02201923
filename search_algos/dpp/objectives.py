"""Device objectives of untrained cells: params, FLOPs per image, latency (ms), energy (mJ).

DPP-Net scores every candidate on its device objectives before training any (Dong et al.,
ECCV 2018, Sec. 3.3); a step scores hundreds. Building, deploying and timing each candidate's
whole network costs tens to hundreds of ms with a ``measured`` device (``count_flops`` alone
~5 ms, a timed forward pass tens of ms), far too slow for 500 candidates in a step. So
:class:`CellCosts` works per layer (``method="layers"``, the default):

* Every cell of the backbone sees a *context* ``(input channels, growth, H, W)``, read once
  from a reference network. A cell layer is then fully described by its signature
  ``(norm, conv, c_in, c_out, H, W)`` (DenseNet-BC widths: ``bottleneck * growth`` between
  layers, ``growth`` out of the last). Cells share layers, and the number of distinct
  signatures is small (a few hundred at most for the shipped spaces).
* Each distinct signature is built once as ``norm -> conv``, deployed (learned group convs
  condensed, :func:`dppnas.nn.deploy`) and costed once: parameters counted, FLOPs counted by
  :func:`dppnas.complexity.count_flops` (torch's flop counter) on the layer at its input size,
  latency / energy from each configured device model on that layer alone. The cache survives save/restore.
* A candidate's cost is the sum over its layers in every context plus the cost of the rest of
  the network (stem, transitions, head, concatenations), measured once as the reference
  network's total minus its cells' layers.

Params and FLOPs are exact (the layers sum to ``count_params`` / ``count_flops`` of the whole
deployed network). Latency depends on the device kind:

* per-layer devices (``lut``, ``roofline``: a calibrated sum over layer signatures): each
  layer's uncalibrated per-family times are cached and the device's calibration is applied
  once to the candidate's sums, which is what the device answers for the whole network;
* ``measured``: each layer is timed alone and the times summed, a per-layer lookup-table
  estimate (nn-Meter; the ``lut`` devices of DESIGN section 5) that ignores effects between
  layers. The constant for the rest of the network does not change the selection
  (non-dominated sorting and crowding distance are invariant to a shift or a positive scale
  of an objective). A cold cache costs one short timing per new signature (a few ms each on
  one idle thread). Timing in the Tune driver competes with the running trials for the CPU:
  prefer a ``lut`` device (``dppnas profile``) for large searches.

Energy is summed per layer the same way (``energy_mj`` of each layer).

``method="network"`` builds and costs every candidate's whole network instead (exact for
every device, slow with ``measured``): for small candidate sets or cheap device kinds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from dppnas.complexity import count_flops, count_params
from dppnas.devices import DeviceModel
from dppnas.devices.layerwise import LayerwiseDevice
from dppnas.errors import DppnasError
from dppnas.nn import DenseCell, deploy, make_norm, make_op
from dppnas.spaces import Cell, DppSpace

CostMethod = Literal["layers", "network"]

#: one layer of a cell in its context: (norm, conv, c_in, c_out, H, W); the devices' own
#: per-layer key is :class:`dppnas.signatures.layer.LayerSignature`
CellLayer = tuple[str, str, int, int, int, int]


def cost_metric_names(devices: Mapping[str, DeviceModel]) -> list[str]:
    """Every objective :class:`CellCosts` can compute with ``devices``."""
    names = ["params", "flops"]
    for name, device in devices.items():
        names.append(f"latency/{name}")
        if device.provides_energy:
            names.append(f"energy/{name}")
    return names


#: ``(C, H, W)`` and classes of the built-in datasets, so the searcher need not load them
KNOWN_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "digits": ((1, 8, 8), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
}


def input_shape_of(dataset: Any) -> tuple[tuple[int, int, int], int]:
    """``(input_shape, num_classes)`` of an experiment's ``dataset`` section.

    Built-in datasets come from :data:`KNOWN_SHAPES` (no loading); any other (``npz``) is
    loaded once with :func:`dppnas.data.load_dataset`.
    """
    from dppnas.data import DataOptions, load_dataset

    options = dataset if isinstance(dataset, DataOptions) else DataOptions.model_validate(dataset)
    if options.name in KNOWN_SHAPES:
        return KNOWN_SHAPES[options.name]
    data = load_dataset(options)
    return data.input_shape, data.num_classes


def _add(total: Sequence[Any], values: Sequence[Any], sign: float = 1.0) -> list[Any]:
    """``total + sign * values`` element-wise; dict elements (per-family ms) add per key."""
    out: list[Any] = []
    for a, b in zip(total, values, strict=True):
        if isinstance(a, dict):
            merged = dict(a)
            for family, ms in b.items():
                merged[family] = merged.get(family, 0.0) + sign * ms
            out.append(merged)
        else:
            out.append(a + sign * b)
    return out


class CellCosts:
    """The cost objectives (``metrics``) of cells of ``space``, without training.

    ``metrics`` are names from :func:`cost_metric_names`: ``params``, ``flops`` (per image),
    ``latency/<device>`` (ms), ``energy/<device>`` (mJ). Calling the object with cells gives
    ``{metric: array of one value per cell}``.
    """

    def __init__(
        self,
        space: DppSpace,
        input_shape: Sequence[int],
        num_classes: int,
        devices: Mapping[str, DeviceModel],
        metrics: Sequence[str],
        method: CostMethod = "layers",
    ) -> None:
        known = cost_metric_names(devices)
        for metric in metrics:
            if metric not in known:
                raise DppnasError(
                    f"cannot compute {metric!r} for an untrained cell; computable: "
                    f"{', '.join(known)} (devices: {', '.join(devices) or 'none'})"
                )
        if method not in ("layers", "network"):
            raise DppnasError(f"unknown cost method {method!r}; use 'layers' or 'network'")
        self.space = space
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.devices = dict(devices)
        self.metrics = tuple(metrics)
        self.method = method
        # per metric: a float, or a per-layer device's uncalibrated ms per op family (dict)
        self._layers: dict[CellLayer, tuple[Any, ...]] = {}
        self._networks: dict[Cell, tuple[float, ...]] = {}
        self._contexts: list[tuple[int, int, int, int]] | None = None
        self._base: tuple[Any, ...] | None = None

    def __call__(self, cells: Sequence[Cell]) -> dict[str, np.ndarray]:
        matrix = self.matrix(cells)
        return {metric: matrix[:, j] for j, metric in enumerate(self.metrics)}

    def matrix(self, cells: Sequence[Cell]) -> np.ndarray:
        """``(len(cells), len(metrics))`` float array of the cells' costs."""
        if not self.metrics:
            return np.zeros((len(cells), 0))
        if self.method == "network":
            rows = [self._network(cell) for cell in cells]
        else:
            rows = [self._by_layers(cell) for cell in cells]
        return np.asarray(rows, dtype=float).reshape(len(cells), len(self.metrics))

    # --- per layer ------------------------------------------------------------------------

    def _by_layers(self, cell: Cell) -> list[float]:
        contexts, base = self._reference()
        total = list(base)
        for signature in self._signatures(cell, contexts):
            total = _add(total, self._layer(signature))
        return self._finalise(total)

    def _finalise(self, values: Sequence[Any]) -> list[float]:
        """Per-family sums of per-layer devices through their calibration; floats as they are."""
        out = []
        for metric, value in zip(self.metrics, values, strict=True):
            if isinstance(value, dict):
                device = self.devices[metric.partition("/")[2]]
                out.append(max(0.0, float(device.calibration.apply(value))))
            else:
                out.append(float(value))
        return out

    def _signatures(
        self, cell: Cell, contexts: Sequence[tuple[int, int, int, int]]
    ) -> list[CellLayer]:
        bottleneck = self.space.options.bottleneck
        last = cell.depth - 1
        signatures = []
        for c_in, growth, height, width in contexts:
            width_in = c_in
            for j, (norm, conv) in enumerate(cell.layers):
                c_out = growth if j == last else bottleneck * growth  # as DenseCell builds it
                signatures.append((norm, conv, width_in, c_out, height, width))
                width_in = c_out
        return signatures

    def _layer(self, signature: CellLayer) -> tuple[Any, ...]:
        values = self._layers.get(signature)
        if values is None:
            norm, conv, c_in, c_out, height, width = signature
            o = self.space.options
            module = nn.Sequential(
                make_norm(norm, c_in),
                make_op(conv, c_in, c_out, groups=o.groups, condense_factor=o.condense_factor),
            )
            deployed = deploy(module, copy=False)  # built for this only
            values = self._costs(deployed, (c_in, height, width), parts=True)
            self._layers[signature] = values
        return values

    def _reference(self) -> tuple[list[tuple[int, int, int, int]], tuple[Any, ...]]:
        """Cell contexts and the cost of everything but the cells, from one reference net."""
        if self._contexts is None or self._base is None:
            o = self.space.options
            cell = Cell(((o.norms[0], o.convs[0]),))
            model = self.space.build(cell, self.input_shape, self.num_classes)
            contexts: list[tuple[int, int, int, int]] = []

            def record(module: nn.Module, args: tuple[Any, ...]) -> None:
                _, channels, height, width = args[0].shape
                contexts.append((int(channels), module.growth, int(height), int(width)))

            hooks = [
                m.register_forward_pre_hook(record)
                for m in model.modules()
                if isinstance(m, DenseCell)
            ]
            with torch.inference_mode():
                model.eval()(torch.zeros(1, *self.input_shape))
            for hook in hooks:
                hook.remove()
            total = self._costs(deploy(model), self.input_shape, parts=True)
            for signature in self._signatures(cell, contexts):
                total = _add(total, self._layer(signature), sign=-1.0)
            # measurement noise must not make the rest of the network cost less than nothing
            base = tuple(v if isinstance(v, dict) else max(0.0, v) for v in total)
            self._contexts, self._base = contexts, base
        return self._contexts, self._base

    # --- whole networks -------------------------------------------------------------------

    def _network(self, cell: Cell) -> tuple[float, ...]:
        values = self._networks.get(cell)
        if values is None:
            model = deploy(self.space.build(cell, self.input_shape, self.num_classes))
            values = self._costs(model, self.input_shape)
            self._networks[cell] = values
        return values

    def _costs(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        parts: bool = False,
    ) -> tuple[Any, ...]:
        """One value per metric; with ``parts``, a per-layer device's latency is its
        uncalibrated per-family times (a dict), to be summed and calibrated later."""
        values: list[Any] = []
        for metric in self.metrics:
            if metric == "params":
                values.append(float(count_params(model)))
            elif metric == "flops":
                values.append(float(count_flops(model, input_shape)))
            else:
                kind, _, name = metric.partition("/")
                device = self.devices[name]
                if kind == "latency" and parts and isinstance(device, LayerwiseDevice):
                    values.append(dict(device.model_parts(model, input_shape)))
                elif kind == "latency":
                    values.append(float(device.latency_ms(model, input_shape)))
                else:
                    values.append(float(device.energy_mj(model, input_shape)))
        return tuple(values)

    # --- persistence ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The caches (plain tuples and floats), so a restored searcher re-measures nothing."""
        return {
            "metrics": self.metrics,
            "method": self.method,
            "layers": dict(self._layers),
            "networks": {cell.tokens(): v for cell, v in self._networks.items()},
            "contexts": self._contexts,
            "base": self._base,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if tuple(state["metrics"]) != self.metrics or state["method"] != self.method:
            raise DppnasError(
                f"saved costs are for {list(state['metrics'])} ({state['method']}), "
                f"not {list(self.metrics)} ({self.method})"
            )
        self._layers = dict(state["layers"])
        self._networks = {Cell.from_tokens(t): tuple(v) for t, v in state["networks"].items()}
        self._contexts = None if state["contexts"] is None else list(state["contexts"])
        self._base = None if state["base"] is None else tuple(state["base"])
