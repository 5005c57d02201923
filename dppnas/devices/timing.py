"""Wall-clock timing of one forward pass, made robust against a shared, noisy machine.

One method serves every caller (the ``measured`` device, ``dppnas profile`` timing single
layers, ``dppnas latency-eval`` timing whole networks), so that a table of layer times and the
networks it predicts are measured the same way:

* the torch thread count is fixed while timing (and restored afterwards);
* the garbage collector is paused and warm-up passes run first;
* single calls are timed (``time.perf_counter``, or CUDA events with synchronisation) and
  repeated until the estimate is stable or a time cap is hit; the estimate (ms) is their
  median by default, or a lower quantile (:func:`estimate_ms`);
* :func:`interleaved_medians` times many callables in rounds, in a fresh shuffled order per
  round, so that a burst of foreign load spoils one round of many callables rather than every
  round of one; :func:`relative_spread` reports how much the rounds disagree.
"""

from __future__ import annotations

import contextlib
import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TimingOptions:
    """How long to time one callable (defaults ours)."""

    #: untimed calls first
    warmup: int = 3
    #: timed calls at least
    min_repeats: int = 10
    #: timed calls at most
    max_repeats: int = 200
    #: stop repeating after this many seconds (once ``min_repeats`` are done)
    time_cap_s: float = 0.5
    #: stop once the estimate moved less than this fraction between checks
    rel_tolerance: float = 0.02
    #: the estimate: "median" of the timed calls, their lower quartile "p25", or "min"
    statistic: str = "median"


#: quantile of the timed calls each statistic takes
STATISTICS = {"median": 0.5, "p25": 0.25, "min": 0.0}


def estimate_ms(times: Sequence[float], statistic: str = "median") -> float:
    """The ``statistic`` (:data:`STATISTICS`) of timed calls (ms).

    Foreign load only ever adds time, so a lower quantile is less disturbed by it than the
    median; on a quiet machine the three nearly agree.
    """
    if statistic == "median":
        return statistics.median(times)
    ordered = sorted(times)
    return ordered[int(STATISTICS[statistic] * (len(ordered) - 1))]


@contextlib.contextmanager
def quiet_interpreter() -> Iterator[None]:
    """Pause the garbage collector (a collection inside a timed call is not the model's cost)."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _cpu_call_ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def _cuda_call_ms(fn: Callable[[], object]) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    end.synchronize()
    return float(start.elapsed_time(end))


def typical_ms(
    fn: Callable[[], object], options: TimingOptions = TimingOptions(), cuda: bool = False
) -> float:
    """Time of one call of ``fn`` in ms (``options.statistic`` of repeats; median by default):
    warm-up, then repeats until the estimate is stable or the time cap is reached."""
    return estimate_ms(sample_ms(fn, options, cuda), options.statistic)


def sample_ms(
    fn: Callable[[], object], options: TimingOptions = TimingOptions(), cuda: bool = False
) -> list[float]:
    """The timed calls (ms each) that :func:`typical_ms` summarises."""
    timer = _cuda_call_ms if cuda else _cpu_call_ms  # one call, in ms
    for _ in range(options.warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times: list[float] = []
    start = time.perf_counter()
    last: float | None = None
    while len(times) < options.max_repeats:
        times.append(timer(fn))
        n = len(times)
        if n >= options.min_repeats and n % 5 == 0:
            estimate = estimate_ms(times, options.statistic)
            if last is not None and abs(estimate - last) <= options.rel_tolerance * estimate:
                break
            last = estimate
        if n >= options.min_repeats and time.perf_counter() - start > options.time_cap_s:
            break
    return times


def interleaved_medians(
    fns: Sequence[Callable[[], object]],
    rounds: int,
    options: TimingOptions | Sequence[TimingOptions] = TimingOptions(),
    *,
    cuda: bool = False,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[float]]:
    """Per callable, its estimate (ms) in each of ``rounds`` rounds.

    Every round times every callable once (:func:`typical_ms`, with ``options`` or
    ``options[i]`` for callable ``i``) in a fresh random order. ``progress(done, total)`` is
    called after each round.
    """
    per_fn = [options] * len(fns) if isinstance(options, TimingOptions) else list(options)
    if len(per_fn) != len(fns):
        raise ValueError("one TimingOptions per callable is needed")
    order = list(range(len(fns)))
    rng = random.Random(seed)
    medians: list[list[float]] = [[] for _ in fns]
    with quiet_interpreter():
        for r in range(rounds):
            rng.shuffle(order)
            for i in order:
                medians[i].append(typical_ms(fns[i], per_fn[i], cuda))
            if progress is not None:
                progress(r + 1, rounds)
    return medians


#: how the per-round estimates of one callable are combined into one time
ROUND_SUMMARIES = ("median", "min", "p25")


def combine_rounds(values: Sequence[float], summary: str = "median") -> float:
    """One time (ms) from a callable's per-round estimates: their ``summary``
    (:data:`ROUND_SUMMARIES`; the same quantiles as :data:`STATISTICS`).

    A burst of foreign load spoils whole rounds and only ever adds time, so on a shared machine
    the minimum over rounds is far less disturbed than their median (measured on ``nb201``, a
    loaded evaluation: within +-10 % 0.75 with the median of 5 rounds, 0.98 with their minimum;
    docs/benchmarks.md). On a quiet machine the rounds agree and so do the summaries.
    """
    if summary not in STATISTICS:
        raise ValueError(f"unknown round summary {summary!r}; one of {', '.join(ROUND_SUMMARIES)}")
    return estimate_ms(values, summary)


def relative_spread(values: Sequence[float]) -> float:
    """Run-to-run spread of repeated estimates: ``(max - min) / median`` (0 for one value)."""
    if len(values) < 2:
        return 0.0
    median = statistics.median(values)
    return (max(values) - min(values)) / median if median > 0 else 0.0
