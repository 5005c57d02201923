"""Measured inference energy: NVML's total-energy counter (NVIDIA GPUs) and Linux RAPL.

A meter is a cumulative counter in mJ. :func:`energy_per_call_mj` runs a callable until the
counter has advanced over at least ``min_duration_s`` and divides. Where no counter is readable
the meter says why; the caller reports energy as unavailable, never as 0 (a counter that did
not advance is an error too).

RAPL (``/sys/class/powercap/intel-rapl:N/energy_uj``, also on recent AMD CPUs) counts the whole
package: other processes and idle power are included, so it is an upper bound of the model's
share on a busy machine.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from dppnas.devices.base import EnergyUnavailableError

POWERCAP_ROOT = Path("/sys/class/powercap")


class EnergyMeter(ABC):
    """A cumulative energy counter."""

    #: what is counted, for descriptions (e.g. "RAPL package energy")
    label: str = ""

    @abstractmethod
    def read_mj(self) -> float:
        """The counter now, in mJ."""

    def delta_mj(self, before: float, after: float) -> float:
        """Energy between two readings, in mJ (handles counter wrap-around where known)."""
        return after - before


class RaplMeter(EnergyMeter):
    """The sum of the package domains ``intel-rapl:N`` under a powercap folder."""

    label = "RAPL package energy (whole package, includes other load)"

    def __init__(self, domains: list[Path]) -> None:
        self.domains = domains
        self._ranges_uj = [_read_int(d / "max_energy_range_uj", default=0) for d in domains]

    def read_mj(self) -> float:
        return sum(_read_int(d / "energy_uj") for d in self.domains) / 1e3

    def delta_mj(self, before: float, after: float) -> float:
        # readings are sums over domains; a wrap shows as a negative delta
        delta = after - before
        if delta < 0:
            delta += sum(self._ranges_uj) / 1e3
        return delta


class NvmlMeter(EnergyMeter):
    """NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load; Volta and newer)."""

    label = "NVML total energy of the GPU board"

    def __init__(self, index: int) -> None:
        import pynvml

        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)

    def read_mj(self) -> float:
        return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))


def _read_int(path: Path, default: int | None = None) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        if default is not None:
            return default
        raise


def rapl_meter(root: Path | None = None) -> RaplMeter | str:
    """A RAPL meter over the package domains under ``root`` (default :data:`POWERCAP_ROOT`),
    or why there is none (text)."""
    root = POWERCAP_ROOT if root is None else root
    if not root.is_dir():
        return f"no RAPL: {root} does not exist"
    domains = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    if not domains:
        return f"no RAPL: no package domain under {root}"
    for domain in domains:
        try:
            _read_int(domain / "energy_uj")
        except (OSError, ValueError) as err:
            return (
                f"RAPL not readable: {domain / 'energy_uj'}: "
                f"{getattr(err, 'strerror', None) or err} (reading it usually needs root)"
            )
    return RaplMeter(domains)


def nvml_meter(index: int = 0) -> NvmlMeter | str:
    """An NVML energy meter for GPU ``index``, or why there is none."""
    try:
        import pynvml
    except ImportError:
        return "no NVML: pynvml is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
        meter = NvmlMeter(index)
        meter.read_mj()
    except Exception as err:  # NVMLError and friends: no driver, old GPU, no permission
        return f"no NVML energy counter: {err}"
    return meter


def energy_per_call_mj(
    fn: Callable[[], object],
    meter: EnergyMeter,
    min_duration_s: float = 1.0,
    sync: Callable[[], None] | None = None,
) -> float:
    """Energy of one call of ``fn`` in mJ: calls it for at least ``min_duration_s``, divides.

    The counters update every few ms (RAPL) to ~100 ms (NVML), hence the duration. A counter
    that did not advance raises :class:`EnergyUnavailableError` rather than returning 0.
    """
    calls = 0
    before = meter.read_mj()
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        if time.perf_counter() - start >= min_duration_s:
            if sync is not None:
                sync()
            break
    after = meter.read_mj()
    delta = meter.delta_mj(before, after)
    if delta <= 0:
        raise EnergyUnavailableError(
            f"energy is not available on this machine: the {meter.label} counter did not "
            f"advance over {calls} calls"
        )
    return delta / calls
