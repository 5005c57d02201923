"""Where DPP-Net's costs of untrained candidates come from (DESIGN section 6b).

A step scores every candidate on the cost objectives before training any. Sources, each a
:class:`CostSource` with a ``label`` shown in logs and step records:

* :class:`CallableCosts`: the user's ``costs(configs) -> {metric: [float, ...]}``; ``configs``
  are the candidates' suggestions (the searched decisions, as Tune passes them to the
  trainable), one list per cost metric in the order of ``configs``;
* :class:`DeviceCosts`: dppnas device models (``lut``, ``roofline``, ``measured``, ...) on the
  candidate's network: per layer for the ``dpp`` space (:class:`.objectives.CellCosts`), whole
  networks for the other dppnas spaces;
* :class:`TableCosts`: a benchmark table's measured values, passed as a callable: an oracle (a
  real search cannot know them before building the network), labelled as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from dppnas.errors import DppnasError

#: ``costs(configs) -> {metric: one value per config}`` for every cost metric
CostFunction = Callable[[list[dict[str, Any]]], Mapping[str, Sequence[float]]]


class CostSource(Protocol):
    """Costs of untrained candidates: ``(n, len(metrics))`` in the metrics' own units."""

    label: str

    def matrix(self, archs: Sequence[Hashable]) -> np.ndarray: ...


class CallableCosts:
    """A user callable over the candidates' configs (the contract in the module docstring)."""

    def __init__(
        self,
        fn: CostFunction,
        config: Callable[[Hashable], dict[str, Any]],
        metrics: Sequence[str],
        label: str = "costs callable",
    ) -> None:
        self.fn, self.config, self.metrics, self.label = fn, config, list(metrics), label

    def matrix(self, archs: Sequence[Hashable]) -> np.ndarray:
        if not self.metrics or not archs:
            return np.zeros((len(archs), len(self.metrics)))
        values = self.fn([self.config(a) for a in archs])
        if not isinstance(values, Mapping):
            raise DppnasError(
                f"the costs function must return {{metric: list of floats}}, got "
                f"{type(values).__name__}"
            )
        missing = [m for m in self.metrics if m not in values]
        if missing:
            raise DppnasError(
                f"the costs function gave no value for {missing} (it returned "
                f"{sorted(values)}); it must return one list per cost metric"
            )
        columns = []
        for m in self.metrics:
            column = np.asarray(values[m], dtype=float).reshape(-1)
            if len(column) != len(archs):
                raise DppnasError(
                    f"the costs function gave {len(column)} values of {m!r} for "
                    f"{len(archs)} configs; it must give one per config, in order"
                )
            if not np.isfinite(column).all():
                raise DppnasError(f"the costs function gave a non-finite value of {m!r}")
            columns.append(column)
        return np.column_stack(columns)


class TableCosts:
    """A benchmark table's measured metrics of each config's ``arch`` (an oracle).

    Give it to the searcher as ``costs=TableCosts(table)``; its ``label`` marks the step
    records and logs as using exact table values.
    """

    label = "benchmark table (oracle)"

    def __init__(self, table: Any) -> None:
        self.table = table

    def __call__(self, configs: list[dict[str, Any]]) -> dict[str, list[float]]:
        rows = [self.table.lookup(c["arch"]).metrics() for c in configs]
        names = [k for k, v in rows[0].items() if _is_number(v)] if rows else []
        return {m: [float(r[m]) for r in rows] for m in names}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class DeviceCosts:
    """dppnas device models on the candidates' networks in a dppnas space.

    The ``dpp`` space is costed per layer (:class:`.objectives.CellCosts`, ``method``); any
    other space builds each candidate's deployed network once (cached) and asks the device
    models: ``params``, ``flops`` (per image), ``latency/<device>`` (ms), ``energy/<device>``
    (mJ).
    """

    def __init__(
        self,
        space: Any,
        config: Callable[[Hashable], dict[str, Any]],
        input_shape: Sequence[int],
        num_classes: int,
        devices: Mapping[str, Any],
        metrics: Sequence[str],
        method: str = "layers",
    ) -> None:
        from dppnas.spaces import DppSpace
        from search_algos.dpp.objectives import CellCosts

        self.space, self.config = space, config
        self.metrics = list(metrics)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        # validates the metric names against the devices for every space
        self.cells = CellCosts(
            space if isinstance(space, DppSpace) else None,
            self.input_shape,
            self.num_classes,
            devices,
            self.metrics,
            method,
        )
        self.per_layer = isinstance(space, DppSpace)
        self.label = f"device models ({method})" if self.per_layer else "device models (network)"
        self._networks: dict[Hashable, tuple[float, ...]] = {}

    def matrix(self, archs: Sequence[Hashable]) -> np.ndarray:
        if self.per_layer:
            return self.cells.matrix(archs)
        return np.asarray([self._network(a) for a in archs], dtype=float).reshape(
            len(archs), len(self.metrics)
        )

    def _network(self, arch: Hashable) -> tuple[float, ...]:
        values = self._networks.get(arch)
        if values is None:
            from dppnas.nn import deploy

            model = deploy(
                self.space.build(self.config(arch)["arch"], self.input_shape, self.num_classes)
            )
            values = self.cells._costs(model, self.input_shape)
            self._networks[arch] = values
        return values

    def state_dict(self) -> dict[str, Any]:
        """The caches, so a restored searcher re-measures nothing."""
        return {"cells": self.cells.state_dict(), "networks": dict(self._networks)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.cells.load_state_dict(state["cells"])
        self._networks = dict(state["networks"])


def make_cost_source(
    fn: CostFunction | None,
    label: str,
    *,
    rule: Any,
    metrics: Sequence[str],
    space: Any = None,
    devices: Mapping[str, Any] | None = None,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    method: str = "layers",
) -> CostSource:
    """The cost source of a search: ``fn`` when given, else device models on the dppnas
    ``space``; a :class:`DppnasError` saying what to pass when neither is possible."""
    if fn is not None:
        return CallableCosts(fn, rule.config, metrics, label)
    if space is None:
        raise DppnasError(
            f"DPP-Net ranks untrained candidates on the costs {list(metrics)}: pass "
            f"costs=fn, fn(configs) -> {{metric: [float, ...]}}"
        )
    if input_shape is None or num_classes is None:
        raise DppnasError(
            'the DPP-Net searcher needs input_shape and num_classes (or a "data" section in '
            "the param_space) to cost untrained candidates with device models"
        )
    from dppnas.devices import DeviceModel, make_devices

    models = dict(devices or {})
    if models and not all(isinstance(d, DeviceModel) for d in models.values()):
        models = make_devices(models)
    return DeviceCosts(space, rule.config, input_shape, num_classes, models, metrics, method)


class CandidateCosts:
    """A searcher's costs of untrained candidates: the user's ``costs`` callable or, without
    one, dppnas device models. The source is made on first use, once Tune's param_space has
    given the space, devices and data: ``context()`` returns :func:`make_cost_source`'s
    keywords."""

    def __init__(self, fn: CostFunction | None, context: Callable[[], dict[str, Any]]) -> None:
        self.context = context
        self.use(fn)

    def use(self, fn: CostFunction | None, label: str = "costs callable") -> None:
        """Cost with ``fn(configs)`` from now on (e.g. a :class:`TableCosts`, whose label
        marks it an oracle)."""
        if fn is not None and not callable(fn):
            raise DppnasError(f"costs must be a callable configs -> {{metric: values}}: {fn!r}")
        self.fn, self.label = fn, getattr(fn, "label", label)
        self.source: CostSource | None = None

    def describe(self, has_space: bool) -> str:
        """Where the costs come from (an oracle says so)."""
        if self.fn is not None:
            return self.label
        return "device models" if has_space else "none"

    def matrix(self, archs: Sequence[Hashable]) -> np.ndarray:
        if self.source is None:
            self.source = make_cost_source(self.fn, self.label, **self.context())
        return self.source.matrix(archs)

    def state_dict(self) -> Any:
        """The device models' caches (None for a callable: it keeps none here)."""
        return self.source.state_dict() if hasattr(self.source, "state_dict") else None

    def load_state_dict(self, state: Any) -> None:
        if state is not None and self.fn is None:
            self.source = make_cost_source(None, self.label, **self.context())
            self.source.load_state_dict(state)  # type: ignore[attr-defined]
