"""``measured``: time a network on the local CPU with PyTorch eager execution.

Warm-up, then repeated timed forward passes at a fixed thread count until the median is
stable or a time cap is reached; the median is reported in ms.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from dppnas.devices.base import DeviceModel, DeviceOptions


class MeasuredOptions(DeviceOptions):
    kind: Literal["measured"] = "measured"
    threads: int = Field(1, ge=1, description="torch intra-op threads while timing")
    batch_size: int = Field(1, ge=1, description="images per timed forward pass")
    warmup: int = Field(3, ge=0, description="untimed forward passes first")
    min_repeats: int = Field(10, ge=3)
    max_repeats: int = Field(200, ge=3)
    time_cap_s: float = Field(0.5, gt=0, description="stop repeating after this many seconds")
    rel_tolerance: float = Field(
        0.02, gt=0, description="stop once the median moved less than this (relative)"
    )


class MeasuredDevice(DeviceModel):
    """Wall-clock latency of eager PyTorch on this machine's CPU (median of repeats)."""

    kind = "measured"
    Options = MeasuredOptions

    def latency_ms(self, model: nn.Module, input_shape: tuple[int, int, int]) -> float:
        opts: MeasuredOptions = self.options  # type: ignore[assignment]
        x = torch.randn(opts.batch_size, *input_shape)
        model = model.eval().cpu()
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(opts.threads)
        try:
            with torch.inference_mode():
                for _ in range(opts.warmup):
                    model(x)
                return _median_until_stable(lambda: model(x), opts)
        finally:
            torch.set_num_threads(previous_threads)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["torch"] = torch.__version__
        return info


def _median_until_stable(forward, opts: MeasuredOptions) -> float:
    """Median forward time in ms; stops when the median is stable or the time cap is hit."""
    times: list[float] = []
    start = time.perf_counter()
    last_median = None
    while len(times) < opts.max_repeats:
        t0 = time.perf_counter()
        forward()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= opts.min_repeats and len(times) % 5 == 0:
            median = statistics.median(times)
            if last_median is not None and abs(median - last_median) <= opts.rel_tolerance * median:
                break
            last_median = median
        if time.perf_counter() - start > opts.time_cap_s and len(times) >= opts.min_repeats:
            break
    return statistics.median(times)
