"""Device latency / energy models, registered by kind (DESIGN section 5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dppnas.devices.base import DeviceModel, DeviceOptions
from dppnas.devices.measured import MeasuredDevice
from dppnas.errors import ConfigError, validate_section
from dppnas.registry import Registry

DEVICE_KINDS: Registry[type[DeviceModel]] = Registry("device kind")
DEVICE_KINDS.register("measured")(MeasuredDevice)

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
    "DeviceModel",
    "DeviceOptions",
    "MeasuredDevice",
    "make_device",
    "make_devices",
    "validate_device_options",
]
