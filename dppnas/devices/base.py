"""The device-model contract: what a trial and a searcher ask of a device (DESIGN section 3)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from torch import nn

from dppnas.errors import DppnasError


class DeviceOptions(BaseModel):
    """Options common to every device kind."""

    model_config = ConfigDict(extra="forbid")
    kind: str


def find_user_file(path: str | Path) -> Path | None:
    """The file a user named (relative to the current directory), or ``None`` if missing.

    Inside a Ray Tune trial the working directory is the trial's folder; a relative path is
    then also looked up from the directory the run was started in (``TUNE_ORIG_WORKING_DIR``).
    """
    path = Path(path).expanduser()
    candidates = [path]
    origin = os.environ.get("TUNE_ORIG_WORKING_DIR")
    if origin and not path.is_absolute():
        candidates.append(Path(origin) / path)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def file_version(path: Path) -> tuple[int, int, int]:
    """A cache key of a file's contents: mtime, size and inode (an atomic rewrite is a new inode,
    so two writes within one coarse mtime tick are still told apart)."""
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class EnergyUnavailableError(DppnasError):
    """Energy of a device cannot be measured or modelled here (never reported as 0)."""


class DeviceModel(ABC):
    """A device whose inference cost of a network can be measured or estimated.

    Subclasses set ``kind`` and ``Options`` and are registered in
    :data:`dppnas.devices.DEVICE_KINDS`.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[DeviceOptions]]
    #: whether the numbers are estimates (a model of a device) rather than measurements
    estimate: ClassVar[bool] = False
    #: whether latency_ms / energy_mj also need ``arch=`` (the decisions): a device predicted
    #: from a benchmark table's entry of the architecture (``fewshot``) cannot read the module
    uses_architecture: ClassVar[bool] = False

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

    def energy_unavailable_reason(self) -> str:
        """Why :meth:`energy_mj` has no value (shown to the user)."""
        return f"device {self.name!r} ({self.kind}) does not model energy"

    def energy_mj(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        """Inference energy of ``model`` on one input, in mJ.

        Raises :class:`EnergyUnavailableError` where energy is not available: never 0.
        """
        raise EnergyUnavailableError(self.energy_unavailable_reason())

    def source(self) -> str:
        """Where this device's numbers come from, in a few words (``dppnas devices``)."""
        return self.kind

    def describe(self) -> dict[str, Any]:
        """JSON-able description: name, kind, options, source (recorded with results)."""
        return {
            "name": self.name,
            **self.options.model_dump(mode="json"),
            "source": self.source(),
            "estimate": self.estimate,
        }
