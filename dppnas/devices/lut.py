"""``lut``: a per-layer latency lookup table of a target device, built by ``dppnas profile``.

The table maps a layer signature (:mod:`dppnas.signatures.layer`) to its median time (ms),
measured in isolation on the target with the ``measured`` method; a network's prediction is the
calibrated sum over its layers (:mod:`dppnas.devices.calibration`; the calibration is fitted at
profile time on whole networks timed on the same machine).

The file is versioned JSON (no pickles: nn-Meter's pickled predictors broke with scikit-learn
upgrades) holding the machine it was measured on (device name, CPU / GPU model, torch version,
threads, batch size, date), the spaces profiled (with a hash of their options), every layer with
its time and run-to-run spread, and the calibration with the networks it was fitted on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import statistics
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from torch import nn

from dppnas.devices.base import DeviceOptions, file_version, find_user_file
from dppnas.devices.calibration import Calibration
from dppnas.devices.layerwise import LayerwiseDevice
from dppnas.errors import DppnasError
from dppnas.signatures.layer import LayerSignature

FORMAT = "dppnas-latency-table"
VERSION = 1


def space_hash(config: Mapping[str, Any]) -> str:
    """A short stable hash of a space's options (``SearchSpace.config()``)."""
    from dppnas.spaces import arch_key  # canonical sorted JSON

    return hashlib.sha256(arch_key(dict(config)).encode()).hexdigest()[:16]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def write_json(data: Any, path: str | Path) -> None:
    """Write ``data`` as indented JSON, atomically (temporary file + ``os.replace``)."""
    from dppnas.atomic import atomic_writer

    with atomic_writer(path) as f:
        json.dump(data, f, indent=1)
        f.write("\n")


@dataclass
class LayerTiming:
    """One table row: a layer signature and its time (ms) over the profiling rounds."""

    signature: LayerSignature
    ms: float
    spread: float = 0.0  # (max - min) / median of the per-round medians
    #: the convolution backend it was timed with (:mod:`dppnas.signatures.backend`); None for
    #: other layers and in tables made before it was recorded
    backend: str | None = None

    def to_json(self) -> dict[str, Any]:
        row = {
            "key": self.signature.key,
            "signature": self.signature.to_json(),
            "ms": self.ms,
            "spread": self.spread,
        }
        if self.backend is not None:
            row["backend"] = self.backend
        return row


@dataclass
class CalibrationNetwork:
    """A whole network timed at profile time to fit the table's calibration."""

    space: str  # space hash
    arch: dict[str, Any]
    measured_ms: float
    spread: float
    parts: dict[str, float]

    @property
    def key(self) -> str:
        from dppnas.spaces import arch_key

        return arch_key(self.arch)


@dataclass
class LookupTable:
    """A device's per-layer latency table (see the module docstring)."""

    machine: dict[str, Any]
    input_shape: tuple[int, int, int]
    num_classes: int
    timing: dict[str, Any] = field(default_factory=dict)
    layers: dict[str, LayerTiming] = field(default_factory=dict)
    calibration: Calibration = field(default_factory=Calibration)
    networks: list[CalibrationNetwork] = field(default_factory=list)
    spaces: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=now_iso)
    updated: str = field(default_factory=now_iso)

    @property
    def threads(self) -> int:
        return int(self.machine.get("threads", 1))

    @property
    def batch_size(self) -> int:
        return int(self.machine.get("batch_size", 1))

    @property
    def rounds_summary(self) -> str:
        """How the table combined each layer's and network's timing rounds (tables made before
        this was recorded: the median)."""
        return str(self.timing.get("rounds_summary", "median"))

    def calibration_keys(self, space_config: Mapping[str, Any]) -> set[str]:
        """Keys of the architectures of this space that the calibration was fitted on."""
        h = space_hash(space_config)
        return {n.key for n in self.networks if n.space == h}

    def space_config(self, name: str) -> dict[str, Any] | None:
        """The options of the last profiled space called ``name``."""
        for entry in reversed(self.spaces):
            if entry["config"].get("name") == name:
                return dict(entry["config"])
        return None

    # --- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created,
            "updated": self.updated,
            "machine": self.machine,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "timing": self.timing,
            "spaces": self.spaces,
            "calibration": self.calibration.model_dump(mode="json"),
            "calibration_networks": [dataclasses.asdict(n) for n in self.networks],
            "layers": [t.to_json() for t in sorted(self.layers.values(), key=_row_order)],
        }

    @classmethod
    def from_json(cls, data: Any, where: str = "latency table") -> LookupTable:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DppnasError(f"{where}: not a dppnas latency table (made by `dppnas profile`)")
        if data.get("version") != VERSION:
            raise DppnasError(
                f"{where}: latency table version {data.get('version')!r}; this dppnas reads "
                f"version {VERSION} (profile the device again)"
            )
        try:
            layers = {}
            for row in data["layers"]:
                sig = LayerSignature.from_json(row["signature"])
                backend = row.get("backend")
                layers[sig.key] = LayerTiming(
                    sig,
                    float(row["ms"]),
                    float(row.get("spread", 0)),
                    None if backend is None else str(backend),
                )
            networks = [
                CalibrationNetwork(
                    space=str(n["space"]),
                    arch=dict(n["arch"]),
                    measured_ms=float(n["measured_ms"]),
                    spread=float(n.get("spread", 0.0)),
                    parts={str(k): float(v) for k, v in n.get("parts", {}).items()},
                )
                for n in data.get("calibration_networks", [])
            ]
            c, h, w = (int(s) for s in data["input_shape"])
            return cls(
                machine=dict(data["machine"]),
                input_shape=(c, h, w),
                num_classes=int(data["num_classes"]),
                timing=dict(data.get("timing", {})),
                layers=layers,
                calibration=Calibration.model_validate(data.get("calibration") or {}),
                networks=networks,
                spaces=list(data.get("spaces", [])),
                created=str(data.get("created", "")),
                updated=str(data.get("updated", "")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DppnasError(f"{where}: malformed latency table ({err})") from None

    def save(self, path: str | Path) -> None:
        """Write the table as JSON, atomically."""
        write_json(self.to_json(), path)

    @classmethod
    def load(cls, path: str | Path) -> LookupTable:
        """Read a table written by :meth:`save` (cached per file version: the object is shared,
        so copy it before changing it)."""
        found = find_user_file(path)
        if found is None:
            raise DppnasError(
                f"{path}: latency table not found (build one with `dppnas profile --out {path}`)"
            )
        return _load_cached(found, file_version(found))


def _row_order(t: LayerTiming) -> tuple[str, str]:
    return (t.signature.op, t.signature.key)


@functools.lru_cache(maxsize=16)
def _load_cached(path: Path, version: tuple[int, int, int]) -> LookupTable:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DppnasError(f"{path}: cannot read the latency table ({err})") from None
    return LookupTable.from_json(data, where=str(path))


# --- the device --------------------------------------------------------------------------------


class UnknownLayerError(DppnasError):
    """A network has a layer the table has no time for."""


def _check_fallback(value: str) -> str:
    from dppnas.devices.roofline import spec_names

    if value in ("error", "none"):
        return value
    if value.startswith("roofline-") and value.removeprefix("roofline-") in spec_names():
        return value
    choices = ["error", "none", *(f"roofline-{s}" for s in spec_names())]
    raise ValueError(f"unknown fallback {value!r}; available: {', '.join(choices)}")


class LutOptions(DeviceOptions):
    kind: Literal["lut"] = "lut"
    path: str = Field(description="the table's JSON file (from `dppnas profile`)")
    fallback: str = Field(
        "error",
        description="a layer not in the table: error; none (counts 0, warns); "
        "roofline-SPEC (estimate scaled to the table, warns)",
    )

    @field_validator("path")
    @classmethod
    def _readable_table(cls, value: str) -> str:
        try:
            LookupTable.load(value)
        except DppnasError as err:
            raise ValueError(str(err)) from None
        return value

    @field_validator("fallback")
    @classmethod
    def _known_fallback(cls, value: str) -> str:
        return _check_fallback(value)


class LutDevice(LayerwiseDevice):
    """Calibrated sum of per-layer times measured on the target by ``dppnas profile``."""

    kind = "lut"
    Options = LutOptions
    options: LutOptions

    def __init__(self, name: str, options: DeviceOptions, table: LookupTable | None = None) -> None:
        super().__init__(name, options)
        self.table = table if table is not None else LookupTable.load(self.options.path)
        self._fallback_device = None
        self._fallback_scale: dict[str, float] = {}
        self._warned: set[str] = set()
        if self.options.fallback.startswith("roofline-"):
            self._init_roofline_fallback(self.options.fallback.removeprefix("roofline-"))

    @classmethod
    def from_table(cls, table: LookupTable, name: str = "lut", path: str = "") -> LutDevice:
        """A device on an in-memory table (no file read; ``path`` is for messages)."""
        return cls(name, LutOptions.model_construct(path=path), table)

    def _init_roofline_fallback(self, spec: str) -> None:
        from dppnas.devices.roofline import RooflineDevice, RooflineOptions

        roofline = RooflineDevice(f"{self.name}-fallback", RooflineOptions(spec=spec))
        ratios: dict[str, list[float]] = {}
        for timing in self.table.layers.values():
            estimate = roofline.layer_ms(timing.signature)
            if estimate > 0:
                ratios.setdefault(timing.signature.family, []).append(timing.ms / estimate)
        everything = [r for rs in ratios.values() for r in rs]
        self._fallback_scale = {f: statistics.median(rs) for f, rs in ratios.items()}
        self._fallback_scale["*"] = statistics.median(everything) if everything else 1.0
        self._fallback_device = roofline

    @property
    def calibration(self) -> Calibration:
        return self.table.calibration

    def layer_ms(self, signature: LayerSignature) -> float:
        timing = self.table.layers.get(signature.key)
        if timing is not None:
            return timing.ms
        return self._missing(signature)

    def layer_backend(self, signature: LayerSignature) -> str | None:
        timing = self.table.layers.get(signature.key)
        return None if timing is None else timing.backend

    def _missing(self, signature: LayerSignature) -> float:
        key = signature.key
        if self.options.fallback == "error":
            raise UnknownLayerError(self._unknown_message(key))
        if self._fallback_device is not None:
            scale = self._fallback_scale.get(signature.family, self._fallback_scale["*"])
            value = scale * self._fallback_device.layer_ms(signature)
            how = f"a {self.options.fallback} estimate scaled to the table ({value:.4f} ms)"
        else:
            value, how = 0.0, "0 ms (fallback: none)"
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(
                f"device {self.name!r}: layer {key} is not in {self.options.path}; using {how}",
                stacklevel=3,
            )
        return value

    def _unknown_message(self, key: str) -> str:
        spaces = ", ".join(s["config"].get("name", "?") for s in self.table.spaces) or "none"
        shape = ",".join(str(s) for s in self.table.input_shape)
        path = self.options.path or "TABLE.json"
        return (
            f"device {self.name!r}: layer {key} is not in the latency table {path} "
            f"(profiled at input {shape} for space(s) {spaces}); extend it on the device with "
            f"`dppnas profile --space SPACE [-o KEY=VALUE ...] --input-shape C,H,W "
            f"--device-name {self.table.machine.get('device_name', self.name)} --out {path} "
            f"--extend` for the space and input size of this network, or set "
            f"devices.{self.name}.fallback to none or roofline-SPEC"
        )

    def check_input_shape(self, input_shape: tuple[int, int, int]) -> None:
        """A clear error when a network is queried at another input size than profiled."""
        if self.options.fallback == "error" and tuple(input_shape) != self.table.input_shape:
            raise UnknownLayerError(
                f"device {self.name!r}: the latency table {self.options.path} was profiled at "
                f"input {'x'.join(map(str, self.table.input_shape))}, the network is queried at "
                f"{'x'.join(map(str, input_shape))}; profile the device at that size"
            )

    def latency_ms(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        self.check_input_shape(input_shape)
        return super().latency_ms(model, input_shape)

    def source(self) -> str:
        m = self.table.machine
        where = m.get("gpu_model") or m.get("cpu_model", "?")
        return (
            f"lookup table {self.options.path}: {len(self.table.layers)} layers measured on "
            f"{m.get('device_name', '?')} ({where}, torch {m.get('torch', '?')}, "
            f"{m.get('threads', '?')} thread(s), batch {m.get('batch_size', '?')}) on "
            f"{self.table.created[:10]}"
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["machine"] = self.table.machine
        info["input_shape"] = list(self.table.input_shape)
        return info
