"""Device latency / energy models, registered by kind (DESIGN section 5).

* ``measured``: timed on this machine (CPU or CUDA; eager PyTorch or ONNX Runtime);
* ``lut``: a per-layer lookup table measured on the target by ``dppnas profile``;
* ``roofline``: an estimate from a device's spec sheet (``specs/*.yaml``);
* ``fewshot``: an estimate from N measurements of the target and a reference latency table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dppnas.devices.base import DeviceModel, DeviceOptions, EnergyUnavailableError
from dppnas.devices.calibration import Calibration, fit_calibration
from dppnas.devices.fewshot_device import FewShotDevice
from dppnas.devices.layerwise import LayerwiseDevice
from dppnas.devices.lut import LookupTable, LutDevice, UnknownLayerError
from dppnas.devices.measured import MeasuredDevice
from dppnas.devices.roofline import RooflineDevice, RooflineSpec, load_spec, spec_names
from dppnas.errors import ConfigError, validate_section
from dppnas.registry import Registry
from dppnas.signatures.layer import LayerSignature
from dppnas.signatures.network import layer_signatures

DEVICE_KINDS: Registry[type[DeviceModel]] = Registry("device kind")
DEVICE_KINDS.register("measured")(MeasuredDevice)
DEVICE_KINDS.register("lut")(LutDevice)
DEVICE_KINDS.register("roofline")(RooflineDevice)
DEVICE_KINDS.register("fewshot")(FewShotDevice)

#: The device configured when an experiment names none.
DEFAULT_DEVICES: dict[str, dict[str, Any]] = {"local-cpu": {"kind": "measured"}}


def validate_device_options(name: str, options: Mapping[str, Any]) -> DeviceOptions:
    """Validate one entry of an experiment's ``devices`` section."""
    where = f"devices.{name}"
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}: expected a mapping with at least `kind`")
    if "kind" not in options:
        raise ConfigError(
            f"{where}.kind: required key is missing (available kinds: {', '.join(DEVICE_KINDS)})"
        )
    cls = DEVICE_KINDS.get(options["kind"], where=f"{where}.kind")
    return validate_section(cls.Options, dict(options), where)  # type: ignore[return-value]


def make_device(name: str, options: Mapping[str, Any] | DeviceOptions) -> DeviceModel:
    """Instantiate the device ``name`` from its (validated or raw) options."""
    if not isinstance(options, DeviceOptions):
        options = validate_device_options(name, options)
    return DEVICE_KINDS.get(options.kind)(name, options)


def make_devices(section: Mapping[str, Any]) -> dict[str, DeviceModel]:
    """All devices of an experiment's ``devices`` section, by name."""
    return {name: make_device(name, opts) for name, opts in section.items()}


__all__ = [
    "DEFAULT_DEVICES",
    "DEVICE_KINDS",
    "Calibration",
    "DeviceModel",
    "DeviceOptions",
    "EnergyUnavailableError",
    "FewShotDevice",
    "LayerSignature",
    "LayerwiseDevice",
    "LookupTable",
    "LutDevice",
    "MeasuredDevice",
    "RooflineDevice",
    "RooflineSpec",
    "UnknownLayerError",
    "fit_calibration",
    "layer_signatures",
    "load_spec",
    "make_device",
    "make_devices",
    "spec_names",
    "validate_device_options",
]
