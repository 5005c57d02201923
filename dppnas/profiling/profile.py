"""``dppnas profile``: build a latency lookup table of this machine for a search space.

1. Find every distinct layer signature the space can produce at the input size: trace the
   deployed networks of a signature cover (:mod:`dppnas.profiling.coverage`).
2. Time each layer alone, on random inputs, with the ``measured`` method (fixed threads,
   warm-up, median until stable), and a set of random whole networks the same way, all in the
   same interleaved rounds; keep one summary of the rounds (by default the table's statistic:
   the minimum, see :func:`~dppnas.devices.timing.combine_rounds`) and the rounds' spread.
3. Fit the calibration (intercept + scales) of the layer sums, grouped by op family or finer
   (:func:`~dppnas.devices.calibration.group_of`), to the whole networks; their architectures
   are recorded so that ``dppnas latency-eval`` can leave them out.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch

from dppnas.devices.calibration import fit_calibration
from dppnas.devices.lut import (
    CalibrationNetwork,
    LayerTiming,
    LookupTable,
    LutDevice,
    now_iso,
    space_hash,
)
from dppnas.devices.measured import MeasuredDevice, MeasuredOptions, cpu_model, gpu_model
from dppnas.devices.timing import (
    TimingOptions,
    combine_rounds,
    interleaved_medians,
    relative_spread,
)
from dppnas.errors import DppnasError
from dppnas.nn import deploy
from dppnas.profiling.coverage import covering_architectures
from dppnas.signatures.backend import conv_backend
from dppnas.signatures.tracing import TracedLayer, trace_layers
from dppnas.spaces import SearchSpace, arch_key

#: timing of one layer per round (single layers are short: a lower cap than whole networks)
LAYER_TIMING = TimingOptions(warmup=3, min_repeats=10, max_repeats=100, time_cap_s=0.2)
#: timing of one whole network per round (the ``measured`` device's defaults)
NETWORK_TIMING = TimingOptions()

Log = Callable[[str], None]

#: median spread of the new layers' rounds ((max - min) / median) above which ``profile``
#: warns that the timing was disturbed (ours: on this CPU, 2026-12-06, quiet tables gave
#: 0.015-0.055; one profiled while the machine slowed gave 0.26, and its held-out networks
#: within +-10 % fell from 0.99 to 0.96)
DISTURBED_SPREAD = 0.15


def disturbed_timing(spreads: Sequence[float]) -> str | None:
    """A warning when the rounds of the layers just timed disagree (median spread above
    :data:`DISTURBED_SPREAD`), else ``None``."""
    if not spreads:
        return None
    spread = statistics.median(spreads)
    if spread <= DISTURBED_SPREAD:
        return None
    return (
        f"profile: warning: the timing rounds disagree (median spread {spread:.2f} of a "
        f"layer's time; a quiet machine gives under 0.06): the machine was busy or changed "
        f"speed, so the table may be less accurate than usual; profile again on a quiet "
        f"machine, or with more --rounds"
    )


def sample_architectures(
    space: SearchSpace, n: int, seed: int, exclude: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Up to ``n`` distinct random canonical architectures of ``space``, none in ``exclude``.

    Returns fewer when the space has fewer such architectures.
    """
    rng = random.Random(seed)
    decisions = space.decisions
    seen = set(exclude)
    found: list[dict[str, Any]] = []
    attempts = 0
    while len(found) < n and attempts < 50 * n + 1000:
        attempts += 1
        raw = {d.name: rng.choice(d.choices) for d in decisions}
        arch = space.encode(space.decode(raw))
        key = arch_key(arch)
        if key not in seen:
            seen.add(key)
            found.append(arch)
    return found


def build_deployed(
    space: SearchSpace, arch: dict[str, Any], input_shape: tuple[int, int, int], num_classes: int
) -> torch.nn.Module:
    """The inference form of ``arch`` (weights seeded: only shapes matter for latency)."""
    torch.manual_seed(0)
    return deploy(space.build(arch, input_shape, num_classes))


def build_measured_rows(
    space: SearchSpace,
    archs: Sequence[dict[str, Any]],
    input_shape: tuple[int, int, int],
    num_classes: int,
    where: str,
) -> Iterator[torch.nn.Module]:
    """:func:`build_deployed` for each architecture of a measurements file, in order; an
    architecture the space cannot build is one error naming ``where:line`` (line 2 = the first
    row after the header)."""
    for line, arch in enumerate(archs, start=2):
        try:
            yield build_deployed(space, arch, input_shape, num_classes)
        except DppnasError as err:
            raise DppnasError(f"{where}:{line}: {err}") from None


def machine_info(device_name: str, options: MeasuredOptions) -> dict[str, Any]:
    """What a table records about where it was measured."""
    return {
        "device_name": device_name,
        "device": options.device,
        "backend": options.backend,
        "cpu_model": cpu_model(),
        "gpu_model": gpu_model() if options.device == "cuda" else None,
        "threads": options.threads,
        "batch_size": options.batch_size,
        "statistic": options.statistic,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def profile_space(
    space: SearchSpace,
    *,
    input_shape: tuple[int, int, int],
    num_classes: int = 10,
    device_name: str = "local-cpu",
    measure: MeasuredOptions | None = None,
    rounds: int = 3,
    calibration_networks: int = 120,
    seed: int = 0,
    layer_timing: TimingOptions = LAYER_TIMING,
    network_timing: TimingOptions = NETWORK_TIMING,
    table: LookupTable | None = None,
    rounds_summary: str | None = None,
    groups: str | None = None,
    log: Log = print,
) -> LookupTable:
    """Profile ``space`` on this machine into a new table, or into an extended copy of ``table``
    (see the module doc).

    ``rounds_summary``: how the rounds' estimates of a layer or network are combined
    (``median``, ``min``, ``p25``; default: ``measure.statistic``). ``groups``: the
    calibration's grouping of layer times (:data:`~dppnas.devices.calibration.GROUPINGS`:
    ``backend``, the default for a new table, ``kernel`` or ``family``). An extended table keeps
    its own of both.
    """
    measure = measure or MeasuredOptions()
    if measure.backend != "eager":
        raise DppnasError("profile: only the eager backend can time single layers")
    if rounds < 1 or calibration_networks < 5:
        raise DppnasError("profile: needs --rounds >= 1 and --calibration-networks >= 5")
    # one summary statistic for layers, networks and (later) latency-eval's reference
    layer_timing = dataclasses.replace(layer_timing, statistic=measure.statistic)
    network_timing = dataclasses.replace(network_timing, statistic=measure.statistic)
    c, h, w = (int(s) for s in input_shape)
    shape = (c, h, w)
    info = machine_info(device_name, measure)
    if table is None:
        table = LookupTable(machine=info, input_shape=shape, num_classes=num_classes)
        table.timing = {
            "layer": dataclasses.asdict(layer_timing),
            "network": dataclasses.asdict(network_timing),
            "rounds": rounds,
            "rounds_summary": rounds_summary or measure.statistic,
        }
    else:
        _check_extendable(table, shape, info)
        table = copy.deepcopy(table)  # extend a copy: a loaded table is shared by load's cache
        if rounds_summary is not None and rounds_summary != table.rounds_summary:
            raise DppnasError(
                f"profile --extend: the table combines rounds by their {table.rounds_summary}, "
                f"not {rounds_summary}; extend it the way it was made"
            )
        if groups is not None and groups != table.calibration.groups:
            raise DppnasError(
                f"profile --extend: the table's calibration groups layers by "
                f"{table.calibration.groups}, not {groups}; extend it the way it was made"
            )
        groups = table.calibration.groups
    summary = table.rounds_summary
    groups = groups or "backend"
    config = space.config()
    space_key = space_hash(config)
    reference = MeasuredDevice(device_name, measure)
    started = time.perf_counter()

    # 1. the layers of the space
    cover = covering_architectures(space)
    new: dict[str, TracedLayer] = {}
    for arch in cover:
        torch.manual_seed(0)
        # the training form: learned group convs are traced (and timed) as deployed
        model = space.build(arch, shape, num_classes)
        for layer in trace_layers(model, shape, keep_calls=True):
            key = layer.signature.key
            if key not in table.layers and key not in new:
                new[key] = layer
    log(
        f"profile: {len(cover)} covering architectures of {space.name!r}: "
        f"{len(new)} layer signatures to time ({len(table.layers)} already in the table)"
    )

    # 2. whole networks for the calibration
    archs = sample_architectures(space, calibration_networks, seed=seed)
    if len(archs) < 5:
        raise DppnasError(f"profile: space {space.name!r} has too few architectures to calibrate")
    models = [build_deployed(space, arch, shape, num_classes) for arch in archs]

    # 3. time the new layers alone and the networks, interleaved in the same rounds (a change
    #    of the machine's load during profiling then biases neither against the other)
    layers = list(new.values())
    with reference.session():
        # the backend each convolution runs with at the timing's batch size and threads
        backends = [
            conv_backend(layer.signature, measure.batch_size, measure.device) for layer in layers
        ]
        calls = [layer.make_call(measure.batch_size, measure.device) for layer in layers]
        calls += [reference.runner(m, shape) for m in models]
        medians = interleaved_medians(
            calls,
            rounds,
            [layer_timing] * len(layers) + [network_timing] * len(models),
            cuda=reference.cuda,
            seed=seed,
            progress=lambda r, n: log(f"profile: round {r}/{n} of layers and networks done"),
        )
    del calls
    for layer, backend, per_round in zip(layers, backends, medians, strict=False):
        table.layers[layer.signature.key] = LayerTiming(
            layer.signature,
            combine_rounds(per_round, summary),
            relative_spread(per_round),
            backend,
        )
    warning = disturbed_timing([table.layers[layer.signature.key].spread for layer in layers])
    if warning:
        log(warning)
    # uncalibrated sums, grouped as the calibration will be
    table.calibration = table.calibration.model_copy(update={"groups": groups})
    uncalibrated = LutDevice.from_table(table, device_name)
    table.networks = [n for n in table.networks if n.space != space_key]
    for arch, model, per_round in zip(archs, models, medians[len(layers) :], strict=True):
        parts = uncalibrated.model_parts(model, shape)
        ms = combine_rounds(per_round, summary)
        table.networks.append(
            CalibrationNetwork(space_key, arch, ms, relative_spread(per_round), parts)
        )
    table.calibration = fit_calibration(
        [n.parts for n in table.networks],
        [n.measured_ms for n in table.networks],
        min_points=5,
        source=f"dppnas profile: {len(table.networks)} networks timed on {device_name}",
        groups=groups,
    )
    table.spaces = [s for s in table.spaces if s.get("hash") != space_key] + [
        {
            "config": config,
            "hash": space_key,
            "covering_architectures": len(cover),
            "profiled": now_iso(),
            "command": " ".join(sys.argv[1:]) if sys.argv else "",
        }
    ]
    table.machine.update(date=now_iso())
    table.updated = now_iso()
    c = table.calibration
    log(
        f"profile: calibration {c.method} (groups: {c.groups}): {c.summary()}; leave-one-out "
        f"error {c.loo_mape:.2f} % on {c.points} networks"
        if c.loo_mape is not None
        else f"profile: calibration {c.method} on {c.points} networks"
    )
    log(f"profile: done in {time.perf_counter() - started:.0f} s, {len(table.layers)} layers")
    return table


def _check_extendable(table: LookupTable, shape: tuple[int, ...], info: dict[str, Any]) -> None:
    """A table is extended only with timings taken the same way on the same machine."""
    if tuple(table.input_shape) != shape:
        raise DppnasError(
            f"profile --extend: the table was profiled at input "
            f"{','.join(map(str, table.input_shape))}, not {','.join(map(str, shape))}; "
            f"write a new table (--out) for this input size"
        )
    for key in ("device", "threads", "batch_size", "statistic", "cpu_model", "torch"):
        if table.machine.get(key) != info.get(key):
            raise DppnasError(
                f"profile --extend: the table's {key} is {table.machine.get(key)!r}, this run's "
                f"is {info.get(key)!r}; extend a table only on the machine and settings it was "
                f"made with"
            )
