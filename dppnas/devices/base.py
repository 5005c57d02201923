"""The device-model contract: what a trial and a searcher ask of a device (DESIGN section 3)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from torch import nn


class DeviceOptions(BaseModel):
    """Options common to every device kind."""

    model_config = ConfigDict(extra="forbid")
    kind: str


class DeviceModel(ABC):
    """A device whose inference cost of a network can be measured or estimated.

    Subclasses set ``kind`` and ``Options`` and are registered in
    :data:`dppnas.devices.DEVICE_KINDS`.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[DeviceOptions]]

    def __init__(self, name: str, options: DeviceOptions) -> None:
        self.name = name
        self.options = options

    @abstractmethod
    def latency_ms(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        """Inference latency of ``model`` on one input of ``input_shape`` (C, H, W), in ms."""

    @property
    def provides_energy(self) -> bool:
        """Whether :meth:`energy_mj` gives a value for this device."""
        return False

    def energy_mj(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        """Inference energy of ``model`` on one input, in mJ."""
        raise NotImplementedError(f"device {self.name!r} ({self.kind}) does not model energy")

    def describe(self) -> dict[str, Any]:
        """JSON-able description: name, kind and options (recorded with results)."""
        return {"name": self.name, **self.options.model_dump(mode="json")}
