"""Devices that predict a network's latency as a calibrated sum over its layers (lut, roofline).

``latency_ms = calibration.apply(parts)`` where ``parts[group]`` sums the uncalibrated times
(ms) of the network's layer signatures (:mod:`dppnas.signatures.layer`) per op family (or per
finer group, :func:`~dppnas.devices.calibration.group_of`). The
signatures of a model object are cached, so repeated queries cost microseconds.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from torch import nn

from dppnas.devices.base import DeviceModel
from dppnas.devices.calibration import CALLS, Calibration
from dppnas.signatures.backend import BACKEND_OPS
from dppnas.signatures.layer import LayerSignature
from dppnas.signatures.network import layer_signatures


class LayerwiseDevice(DeviceModel):
    """A device whose latency is the calibrated sum of per-layer times."""

    @property
    @abstractmethod
    def calibration(self) -> Calibration:
        """The calibration applied to the per-family sums."""

    @abstractmethod
    def layer_ms(self, signature: LayerSignature) -> float:
        """Uncalibrated time of one layer, in ms."""

    def layer_backend(self, signature: LayerSignature) -> str | None:
        """The backend that ran ``signature`` where it was timed (a convolution's, see
        :mod:`dppnas.signatures.backend`), or ``None`` where unknown."""
        return None

    def parts(self, signatures: Iterable[LayerSignature]) -> dict[str, float]:
        """Uncalibrated time (ms) of a network's layers per calibration group (the op family, or
        finer: :func:`~dppnas.devices.calibration.group_of`); with the ``backend`` grouping also
        ``calls:<backend>``, the number of layers run by each backend."""
        # group_of, inlined: a cached property of the signature (queries are hot)
        grouping = self.calibration.groups
        by_kernel = grouping != "family"
        calls = grouping == "backend"
        parts: dict[str, float] = {}
        for signature in signatures:
            group = signature.kernel_group if by_kernel else signature.family
            parts[group] = parts.get(group, 0.0) + self.layer_ms(signature)
            if calls and signature.op in BACKEND_OPS:  # the rest have none: skip the lookup
                backend = self.layer_backend(signature)
                if backend is not None:
                    key = CALLS + backend
                    parts[key] = parts.get(key, 0.0) + 1.0
        return parts

    def model_parts(self, model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, float]:
        """:meth:`parts` of ``model``'s layers at ``input_shape``."""
        return self.parts(layer_signatures(model, input_shape))

    def predict_ms(self, signatures: Iterable[LayerSignature]) -> float:
        """Calibrated latency (ms) of a network given its layer signatures."""
        return max(0.0, self.calibration.apply(self.parts(signatures)))

    def latency_ms(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        return self.predict_ms(layer_signatures(model, input_shape))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["calibration"] = self.calibration.model_dump(mode="json")
        return info
