"""``fewshot``: a device known from N measured architectures (and free features of any other).

``dppnas fewshot`` (:mod:`dppnas.profiling.fewshot`) fits
:class:`~dppnas.devices.fewshot.FewShotModel` s (latency, and energy where the measurements have
it) to the user's N measurements on the target, and writes them as versioned JSON (no pickles),
which this device reads. The features come from one of two sources:

* a **reference table** (``--table nb201-hw``): other devices' latencies, FLOPs, params and op
  counts of the same architecture (looked up by architecture: the device needs ``arch=``);
* the **network itself** (``--space S``): FLOPs per image, params and, per ``--lut`` table,
  that profiled reference device's calibrated per-layer sum (ms) - all read from the module,
  so the device works for any space.

In an experiment the device is ``{kind: fewshot, path: FILE}``. Every value is an estimate.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import nn

from dppnas.devices.base import DeviceModel, DeviceOptions, file_version, find_user_file
from dppnas.devices.fewshot import FewShotModel
from dppnas.devices.reference_table import ReferenceLatencies, load_reference_latencies
from dppnas.errors import DppnasError, format_validation_error

FORMAT = "dppnas-fewshot-device"
VERSION = 1


class FewShotFile(BaseModel):
    """The JSON a ``fewshot`` device reads (written by ``dppnas fewshot``)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["dppnas-fewshot-device"] = FORMAT
    version: int = VERSION
    device: str = Field(description="the target's name")
    table: str | None = Field(None, description="reference table: shipped name or CSV path")
    references: list[str] = Field(
        default_factory=list, description="reference devices (table) or lut files (space)"
    )
    space: dict[str, Any] | None = Field(None, description="the space, for module features")
    input_shape: tuple[int, int, int] | None = Field(None, description="C,H,W (module features)")
    num_classes: int | None = None
    latency: FewShotModel = Field(description="latency model, ms")
    energy: FewShotModel | None = Field(None, description="energy model, mJ")
    measurements: str = Field(description="the CSV the models were fitted to")
    created: str


@functools.lru_cache(maxsize=4)
def reference_latencies(table: str) -> ReferenceLatencies:
    return load_reference_latencies(table)


def architecture_features(
    table: str, archs: list[Mapping[str, Any]], where: str
) -> dict[str, np.ndarray]:
    """The reference table's features (``latency/<device>``, ``flops``, ``ops/...``) of
    ``archs``; a clear error for an architecture the table does not hold."""
    reference = reference_latencies(table)
    rows = []
    for n, arch in enumerate(archs, start=1):
        row = reference.row_of(arch)
        if row is None:
            raise DppnasError(
                f"{where}: architecture {n} ({json.dumps(dict(arch), sort_keys=True)}) is not "
                f"in the reference table {table} (decisions: {', '.join(sorted(reference.archs[0]))})"
            )
        rows.append(row)
    picked = np.array(rows, dtype=int)
    features = {k: v[picked] for k, v in reference.features.items()}
    features.update({f"latency/{d}": v[picked] for d, v in reference.latencies.items()})
    return features


def module_features(
    model: nn.Module, input_shape: tuple[int, int, int], luts: list[str]
) -> dict[str, float]:
    """Features read from a network: ``flops`` (per image), ``params`` and ``lut/<i>`` (the
    calibrated per-layer sum, ms, of the i-th reference table in ``luts``)."""
    from dppnas.complexity import count_flops, count_params
    from dppnas.devices.lut import LutDevice, LutOptions

    features = {
        "flops": float(count_flops(model, input_shape)),
        "params": float(count_params(model)),
    }
    for i, path in enumerate(luts):
        lut = LutDevice(f"lut{i}", LutOptions(path=path))
        features[f"lut/{i}"] = lut.latency_ms(model, input_shape)
    return features


@functools.lru_cache(maxsize=16)
def _load(path: Path, version: tuple[int, int, int]) -> FewShotFile:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DppnasError(f"{path}: cannot read the few-shot device file: {err}") from None
    try:
        return FewShotFile.model_validate(data)
    except ValidationError as err:
        raise DppnasError(f"{path}: {format_validation_error(err, '', FewShotFile)}") from None


def load_fewshot(path: str | Path) -> FewShotFile:
    """A device file written by ``dppnas fewshot`` (cached by file version)."""
    found = find_user_file(path)
    if found is None:
        raise DppnasError(f"{path}: few-shot device file not found (build it: dppnas fewshot)")
    return _load(found, file_version(found))


class FewShotOptions(DeviceOptions):
    kind: Literal["fewshot"] = "fewshot"
    path: str = Field(description="the device file (from `dppnas fewshot`)")

    @field_validator("path")
    @classmethod
    def _readable(cls, value: str) -> str:
        try:
            load_fewshot(value)
        except DppnasError as err:
            raise ValueError(str(err)) from None
        return value


class FewShotDevice(DeviceModel):
    """A device predicted from N of its measurements and a reference table (an estimate)."""

    kind = "fewshot"
    Options = FewShotOptions
    options: FewShotOptions
    estimate = True
    uses_architecture: ClassVar[bool] = True

    def __init__(self, name: str, options: DeviceOptions) -> None:
        super().__init__(name, options)
        self.file = load_fewshot(self.options.path)

    def _predict(
        self,
        which: FewShotModel,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        arch: Mapping[str, Any] | None,
    ) -> float:
        f = self.file
        if f.table is None:
            if f.input_shape is not None and tuple(input_shape) != tuple(f.input_shape):
                raise DppnasError(
                    f"device {self.name!r} (fewshot) was fitted at input "
                    f"{','.join(map(str, f.input_shape))}, asked at {','.join(map(str, input_shape))}"
                )
            values = module_features(model, input_shape, f.references)
            return float(which.predict({k: [v] for k, v in values.items()})[0])
        if arch is None:
            raise DppnasError(
                f"device {self.name!r} (fewshot) predicts from the architecture's entry in "
                f"{f.table}; it was asked without an architecture"
            )
        features = architecture_features(f.table, [arch], f"device {self.name}")
        return float(which.predict(features)[0])

    def latency_ms(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        arch: Mapping[str, Any] | None = None,
    ) -> float:
        return self._predict(self.file.latency, model, input_shape, arch)

    @property
    def provides_energy(self) -> bool:
        return self.file.energy is not None

    def energy_unavailable_reason(self) -> str:
        return f"device {self.name!r} (fewshot): {self.options.path} was fitted without energy_mj"

    def energy_mj(
        self,
        model: nn.Module,
        input_shape: tuple[int, int, int],
        arch: Mapping[str, Any] | None = None,
    ) -> float:
        if self.file.energy is None:
            return super().energy_mj(model, input_shape)
        return self._predict(self.file.energy, model, input_shape, arch)

    def source(self) -> str:
        f = self.file
        return (
            f"ESTIMATE, few-shot: {f.latency.label} fitted to {f.latency.points} measured "
            f"architectures ({f.measurements}; leave-one-out error ~"
            f"{(f.latency.loo_log_rmse or 0) * 100:.1f} %), features from "
            f"{f.table or 'the network (FLOPs, params, reference tables)'}"
        )
