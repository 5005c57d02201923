"""``measured``: time a network on this machine (CPU or CUDA; eager PyTorch or ONNX Runtime).

Method (:mod:`dppnas.devices.timing`): thread count fixed and recorded, warm-up, repeated timed
forward passes of ``batch_size`` images until the estimate is stable or a time cap is reached;
the median (or ``statistic``) is reported in ms. On CUDA each call is timed with CUDA events
after a synchronisation.
Energy is measured where a counter is readable (RAPL for the CPU, NVML for NVIDIA GPUs) and is
otherwise reported as not available on this machine.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import platform
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from dppnas.devices.base import DeviceModel, DeviceOptions
from dppnas.devices.energy import EnergyMeter, energy_per_call_mj, nvml_meter, rapl_meter
from dppnas.devices.timing import TimingOptions, typical_ms
from dppnas.errors import DppnasError
from dppnas.threads import fixed_threads


class MeasuredOptions(DeviceOptions):
    kind: Literal["measured"] = "measured"
    device: Literal["cpu", "cuda"] = Field("cpu", description="where to run: cpu or cuda")
    backend: Literal["eager", "onnxruntime"] = Field(
        "eager", description="eager PyTorch, or ONNX Runtime (extra `onnx`)"
    )
    threads: int = Field(1, ge=1, description="torch / ONNX Runtime intra-op threads")
    batch_size: int = Field(1, ge=1, description="images per timed forward pass")
    warmup: int = Field(3, ge=0, description="untimed forward passes first")
    min_repeats: int = Field(10, ge=3)
    max_repeats: int = Field(200, ge=3)
    time_cap_s: float = Field(0.5, gt=0, description="stop repeating after this many seconds")
    rel_tolerance: float = Field(
        0.02, gt=0, description="stop once the estimate moved less than this (relative)"
    )
    statistic: Literal["median", "p25", "min"] = Field(
        "median", description="summary of the timed calls: median, lower quartile or minimum"
    )
    energy_min_s: float = Field(
        1.0, gt=0, description="seconds of repeated inference per energy measurement"
    )

    @field_validator("backend")
    @classmethod
    def _backend_installed(cls, value: str) -> str:
        if value == "onnxruntime":
            try:
                import onnxruntime  # noqa: F401
            except ImportError:
                raise ValueError(
                    "onnxruntime is not installed; pip install 'dppnas[onnx]' or use backend: eager"
                ) from None
        return value

    def timing(self) -> TimingOptions:
        return TimingOptions(
            warmup=self.warmup,
            min_repeats=self.min_repeats,
            max_repeats=self.max_repeats,
            time_cap_s=self.time_cap_s,
            rel_tolerance=self.rel_tolerance,
            statistic=self.statistic,
        )


@functools.cache
def cpu_model() -> str:
    """This machine's CPU model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def gpu_model() -> str | None:
    """The name of the current CUDA device, or ``None`` without CUDA."""
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


class MeasuredDevice(DeviceModel):
    """Wall-clock latency on this machine (median of repeats by default), energy where readable."""

    kind = "measured"
    Options = MeasuredOptions
    options: MeasuredOptions

    # --- running ---------------------------------------------------------------------------

    @property
    def cuda(self) -> bool:
        return self.options.device == "cuda"

    def _check_device(self) -> None:
        if self.cuda and not torch.cuda.is_available():
            raise DppnasError(
                f"devices.{self.name}.device: cuda requested but no CUDA device is visible"
            )

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Fixed threads and inference mode, for timing one or many runners."""
        self._check_device()
        with fixed_threads(self.options.threads), torch.inference_mode():
            yield

    def runner(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], Any]:
        """A zero-argument callable running one forward pass of ``batch_size`` images.

        Call it inside :meth:`session`. ``model`` is put in eval mode; on CUDA a copy is moved.
        """
        self._check_device()
        opts = self.options
        model.eval()
        if self.options.backend == "onnxruntime":
            return _onnx_runner(model, input_shape, opts)
        if self.cuda:
            model = copy.deepcopy(model).cuda()
            x = torch.randn(opts.batch_size, *input_shape, device="cuda")
        else:
            x = torch.randn(opts.batch_size, *input_shape)
        return functools.partial(model, x)

    @contextlib.contextmanager
    def _running(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Iterator[Callable]:
        """A :meth:`runner` inside a :meth:`session`; ``model``'s training mode is restored."""
        was_training = model.training
        try:
            with self.session():
                yield self.runner(model, input_shape)
        finally:
            model.train(was_training)

    def latency_ms(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        with self._running(model, input_shape) as run:
            return typical_ms(run, self.options.timing(), cuda=self._cuda_timing)

    @property
    def _cuda_timing(self) -> bool:
        return self.cuda and self.options.backend == "eager"

    # --- energy ------------------------------------------------------------------------------

    @functools.cached_property
    def _meter(self) -> EnergyMeter | str:
        if self.cuda:
            index = torch.cuda.current_device() if torch.cuda.is_available() else 0
            return nvml_meter(index)
        return rapl_meter()

    @property
    def provides_energy(self) -> bool:
        return isinstance(self._meter, EnergyMeter)

    def energy_unavailable_reason(self) -> str:
        meter = self._meter
        reason = meter if isinstance(meter, str) else "no reason given"
        return f"device {self.name!r}: energy is not available on this machine ({reason})"

    def energy_mj(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        if not self.provides_energy:
            return super().energy_mj(model, input_shape)
        meter: EnergyMeter = self._meter  # type: ignore[assignment]
        with self._running(model, input_shape) as run:
            for _ in range(self.options.warmup):
                run()
            sync = torch.cuda.synchronize if self.cuda else None
            return energy_per_call_mj(run, meter, self.options.energy_min_s, sync)

    # --- description -------------------------------------------------------------------------

    def source(self) -> str:
        where = (gpu_model() or "CUDA GPU") if self.cuda else cpu_model()
        energy = (
            self._meter.label
            if isinstance(self._meter, EnergyMeter)
            else f"energy not available on this machine ({self._meter})"
        )
        return (
            f"measured here ({self.options.backend} on {where}, {self.options.threads} "
            f"thread(s), batch {self.options.batch_size}); {energy}"
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["torch"] = torch.__version__
        info["cpu_model"] = cpu_model()
        if self.cuda:
            info["gpu_model"] = gpu_model()
        return info


def _onnx_runner(
    model: nn.Module, input_shape: tuple[int, int, int], opts: MeasuredOptions
) -> Callable[[], Any]:
    """Export ``model`` to ONNX in memory and return a callable running it in ONNX Runtime."""
    import onnxruntime as ort

    x = torch.randn(opts.batch_size, *input_shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        # the TorchScript exporter needs no extra package (the dynamo one needs onnxscript)
        torch.onnx.export(model.cpu(), (x,), buffer, dynamo=False, input_names=["x"])
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = opts.threads
    session_options.inter_op_num_threads = 1
    providers = ["CUDAExecutionProvider"] if opts.device == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(buffer.getvalue(), session_options, providers=providers)
    feed = {"x": x.numpy()}
    return functools.partial(session.run, None, feed)
