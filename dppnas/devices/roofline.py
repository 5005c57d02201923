"""``roofline``: an analytic latency / energy ESTIMATE for devices we cannot reach.

Per layer (Williams et al., "Roofline", CACM 2009)::

    time_s = max(FLOPs / peak_flops, bytes / memory_bandwidth) + layer_overhead_s

with FLOPs counting a multiply-accumulate as 2, bytes = (inputs + output + weights) x 4 (fp32,
every tensor read or written once), ``layer_overhead_s`` per layer that launches work (kernel
launch / framework dispatch; ours). Energy = ``power_w`` x latency (W x ms = mJ). The numbers
come from a YAML spec per device (:data:`SPEC_DIR`, the source of each number noted in the
file); a spec may carry a :class:`~dppnas.devices.calibration.Calibration` fitted to real
measurements with ``dppnas calibrate``. Every output is an estimate and labelled so.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import nn

from dppnas.devices.base import DeviceOptions, file_version, find_user_file
from dppnas.devices.calibration import Calibration
from dppnas.devices.layerwise import LayerwiseDevice
from dppnas.errors import DppnasError, format_validation_error
from dppnas.signatures.layer import LayerSignature

SPEC_DIR = Path(__file__).with_name("specs")

#: layers that launch no work of their own (views, Python calls): no overhead, no bytes
_FREE = {"identity", "flatten", "module_call"}
#: the calibration of a spec without one (built once: queries are on the hot path)
_UNCALIBRATED = Calibration()


class RooflineSpec(BaseModel):
    """A device's roofline numbers (units in the field names; sources in ``sources``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    peak_flops: float = Field(gt=0, description="FLOP/s, fp32")
    memory_bandwidth: float = Field(gt=0, description="bytes/s")
    layer_overhead_s: float = Field(ge=0, description="s per layer (ours)")
    power_w: float = Field(gt=0, description="W while running inference")
    bytes_per_element: int = Field(4, ge=1, description="4 = fp32")
    sources: dict[str, str] = Field(default_factory=dict)
    assumptions: list[str] = Field(default_factory=list)
    calibration: Calibration | None = None


def spec_names() -> list[str]:
    """Names of the shipped specs (``specs/NAME.yaml``)."""
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def spec_path(name_or_path: str) -> Path:
    """The YAML file of a shipped spec name or of a user's path; a clear error otherwise."""
    if name_or_path in spec_names():
        return SPEC_DIR / f"{name_or_path}.yaml"
    found = find_user_file(name_or_path)
    if found is None:
        raise DppnasError(
            f"unknown roofline spec {name_or_path!r}; available: {', '.join(spec_names())} "
            f"(or the path of a spec YAML file)"
        )
    return found


@functools.lru_cache(maxsize=64)
def _load(path: Path, version: tuple[int, int, int]) -> RooflineSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DppnasError(f"{path}: cannot read the roofline spec: {err}") from None
    try:
        return RooflineSpec.model_validate(data if isinstance(data, dict) else {})
    except ValidationError as err:
        raise DppnasError(f"{path}: {format_validation_error(err, '', RooflineSpec)}") from None


def load_spec(name_or_path: str) -> RooflineSpec:
    """The spec called ``name_or_path`` (a shipped name, or a YAML file)."""
    path = spec_path(name_or_path)
    return _load(path, file_version(path))


def save_spec(spec: RooflineSpec, path: str | Path) -> None:
    """Write ``spec`` (e.g. with a calibration) as YAML, atomically."""
    from dppnas.atomic import atomic_writer

    with atomic_writer(path) as f:
        f.write(f"# roofline spec {spec.name}: numbers are estimates (see sources)\n")
        yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), f, sort_keys=False)


# --- the cost model ---------------------------------------------------------------------------


def _elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 0


def _c_in(sig: LayerSignature) -> int:
    return sig.inputs[0][0] if sig.inputs and sig.inputs[0] else 0


def _macs_per_output(sig: LayerSignature) -> int | None:
    """Multiply-accumulates per output element (= weights per output channel) of a conv or
    linear layer; ``None`` for other ops."""
    c_in = _c_in(sig)
    if sig.op in ("conv2d", "condensed_conv"):
        kh, kw = sig.attr("kernel", (1, 1))
        used = sig.attr("kept", c_in) if sig.op == "condensed_conv" else c_in
        return (used // sig.attr("groups", 1)) * kh * kw
    if sig.op == "linear":
        return c_in
    return None


def layer_flops(sig: LayerSignature) -> float:
    """Floating-point operations of one layer on one image (a multiply-accumulate = 2)."""
    out = _elements(sig.output)
    macs = _macs_per_output(sig)
    if macs is not None:
        return 2.0 * out * macs
    if sig.op == "batch_norm":
        return 2.0 * out  # inference: one scale and one shift per element
    if sig.op in ("max_pool2d", "avg_pool2d"):
        kh, kw = sig.attr("kernel", (1, 1))
        return float(out * kh * kw)
    if sig.op.startswith("adaptive_"):
        return float(sum(_elements(s) for s in sig.inputs))
    if sig.op in _FREE or sig.op == "cat":
        return 0.0
    return float(out)  # element-wise ops (activations, add, unknown modules): ~1 per element


def _weights(sig: LayerSignature) -> int:
    macs = _macs_per_output(sig)
    if macs is not None:
        return (sig.output[0] if sig.output else 0) * macs
    if sig.op == "batch_norm":
        return 2 * _c_in(sig)
    return 0


def layer_bytes(sig: LayerSignature, bytes_per_element: int = 4) -> float:
    """Bytes moved by one layer on one image: inputs and output once, plus the weights."""
    if sig.op in _FREE:
        return 0.0
    elements = sum(_elements(s) for s in sig.inputs) + _elements(sig.output) + _weights(sig)
    if sig.op == "condensed_conv":  # index_select copy and channel shuffle: two more passes
        hw = _elements(sig.output[1:])
        elements += 2 * sig.attr("kept", 0) * hw + 2 * _elements(sig.output)
    return float(elements * bytes_per_element)


def layer_time_s(sig: LayerSignature, spec: RooflineSpec, batch_size: int = 1) -> float:
    """Roofline time of one layer on ``batch_size`` images, in s (an estimate)."""
    if sig.op in _FREE:
        return 0.0
    flops = batch_size * layer_flops(sig)
    moved = batch_size * layer_bytes(sig, spec.bytes_per_element)
    return max(flops / spec.peak_flops, moved / spec.memory_bandwidth) + spec.layer_overhead_s


# --- the device --------------------------------------------------------------------------------


class RooflineOptions(DeviceOptions):
    kind: Literal["roofline"] = "roofline"
    spec: str = Field(description="a shipped spec name (dppnas devices) or a spec YAML path")
    peak_flops: float | None = Field(None, gt=0, description="override, FLOP/s")
    memory_bandwidth: float | None = Field(None, gt=0, description="override, bytes/s")
    layer_overhead_s: float | None = Field(None, ge=0, description="override, s per layer")
    power_w: float | None = Field(None, gt=0, description="override, W")
    batch_size: int = Field(1, ge=1, description="images per inference")

    @field_validator("spec")
    @classmethod
    def _known_spec(cls, value: str) -> str:
        try:
            load_spec(value)
        except DppnasError as err:
            raise ValueError(str(err)) from None
        return value


class RooflineDevice(LayerwiseDevice):
    """Roofline estimate of a device from its spec sheet (labelled an estimate everywhere)."""

    kind = "roofline"
    Options = RooflineOptions
    options: RooflineOptions
    estimate = True

    def __init__(self, name: str, options: DeviceOptions) -> None:
        super().__init__(name, options)
        base = load_spec(self.options.spec)
        overrides = {
            k: getattr(self.options, k)
            for k in ("peak_flops", "memory_bandwidth", "layer_overhead_s", "power_w")
            if getattr(self.options, k) is not None
        }
        self.spec = base.model_copy(update=overrides)
        self._layer_ms: dict[str, float] = {}  # by signature key: queries repeat layers

    @property
    def calibration(self) -> Calibration:
        return self.spec.calibration or _UNCALIBRATED

    def layer_ms(self, signature: LayerSignature) -> float:
        ms = self._layer_ms.get(signature.key)
        if ms is None:
            ms = layer_time_s(signature, self.spec, self.options.batch_size) * 1e3
            self._layer_ms[signature.key] = ms
        return ms

    @property
    def provides_energy(self) -> bool:
        return True

    def energy_mj(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        """Spec power (W) x estimated latency (ms) = mJ (an estimate)."""
        return self.spec.power_w * self.latency_ms(model, input_shape)

    def source(self) -> str:
        s = self.spec
        calibrated = f", calibrated on {s.calibration.points} measurements" if s.calibration else ""
        return (
            f"ESTIMATE from spec sheet: {s.description} ({s.peak_flops / 1e9:g} GFLOP/s fp32, "
            f"{s.memory_bandwidth / 1e9:g} GB/s, {s.power_w:g} W{calibrated}); energy = "
            f"spec power x latency (estimate)"
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["spec_sheet"] = self.spec.model_dump(mode="json", exclude={"calibration"})
        return info
