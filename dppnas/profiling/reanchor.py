"""Re-anchoring a latency table to this session's machine speed (ours).

A shared machine's speed drifts by several percent between sessions, and even between
minutes (measured here: held-out networks ran 3-6 % off a table's calibration, in both
directions, minutes after profiling). A table made at another time cannot predict that.
Re-anchoring times ``K`` of the table's own calibration networks again, in interleaved rounds
measured like the table (same threads, batch size and statistic), and takes the median ratio
of their times now to their times at profiling as the machine's speed factor. The layer
shapes, their relative times and the calibration's form stay as profiled; only the absolute
scale follows the machine.

:func:`reanchor_table` applies the factor to a table (``dppnas reanchor``): every stored time
(layers, calibration networks, the calibration's intercept) is multiplied by it, so that every
prediction is multiplied by it and the table stays self-consistent (a later re-anchoring
compares with the times it now holds). ``dppnas latency-eval --reanchor K`` does the same in
memory, timing the anchors in the same rounds as the networks it evaluates.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn

from dppnas.devices.calibration import CALLS
from dppnas.devices.lut import CalibrationNetwork, LookupTable, now_iso
from dppnas.devices.measured import MeasuredDevice, MeasuredOptions
from dppnas.devices.timing import (
    TimingOptions,
    combine_rounds,
    interleaved_medians,
    relative_spread,
)
from dppnas.errors import DppnasError
from dppnas.profiling.profile import NETWORK_TIMING, build_deployed


def anchor_networks(
    table: LookupTable, k: int, seed: int = 0, space: str | None = None
) -> list[CalibrationNetwork]:
    """``k`` of the table's calibration networks (of the space with hash ``space``, or of any),
    one per size bin drawn at random within it (seeded): fast and slow networks both anchor."""
    if k < 1:
        raise DppnasError("re-anchoring needs at least 1 calibration network")
    networks = sorted(
        (n for n in table.networks if space is None or n.space == space),
        key=lambda n: (n.measured_ms, n.key),
    )
    if len(networks) < k:
        raise DppnasError(
            f"re-anchoring with {k} networks needs {k} calibration networks in the table, it has "
            f"{len(networks)} (re-profile with --calibration-networks {k} or more, or use fewer)"
        )
    rng = np.random.default_rng(seed)
    return [networks[int(rng.choice(b))] for b in np.array_split(np.arange(len(networks)), k)]


def anchor_models(table: LookupTable, anchors: Sequence[CalibrationNetwork]) -> list[nn.Module]:
    """The anchors' deployed networks, built from the space options the table stores."""
    from dppnas.spaces import make_space

    configs = {entry.get("hash"): entry["config"] for entry in table.spaces}
    models = []
    for anchor in anchors:
        if anchor.space not in configs:
            raise DppnasError(
                f"calibration network {anchor.key} belongs to a space the table does not "
                "describe (profile it again)"
            )
        space = make_space(dict(configs[anchor.space]))
        models.append(build_deployed(space, anchor.arch, table.input_shape, table.num_classes))
    return models


def time_like_table(
    table: LookupTable,
    models: Sequence[nn.Module],
    rounds: int,
    timing: TimingOptions = NETWORK_TIMING,
    seed: int = 0,
    log: Callable[[str], None] = print,
    what: str = "latency",
) -> list[list[float]]:
    """Each model's estimate (ms) in each of ``rounds`` interleaved rounds, measured as the
    table was (its device, threads, batch size and statistic)."""
    statistic = table.machine.get("statistic", "median")
    timing = dataclasses.replace(timing, statistic=statistic)
    reference = MeasuredDevice(
        "reference",
        MeasuredOptions(
            device=table.machine.get("device", "cpu"),
            threads=table.threads,
            batch_size=table.batch_size,
            statistic=statistic,
        ),
    )
    with reference.session():
        runners = [reference.runner(m, table.input_shape) for m in models]
        return interleaved_medians(
            runners,
            rounds,
            timing,
            cuda=reference.cuda,
            seed=seed,
            progress=lambda r, k: log(f"{what}: round {r}/{k} done"),
        )


def speed_factor(
    anchors: Sequence[CalibrationNetwork],
    rounds_ms: Sequence[Sequence[float]],
    summary: str = "median",
) -> dict[str, Any]:
    """``{"networks", "factor", "ratio_spread"}``: the median over anchors of (time now /
    time at profiling), and the spread of those ratios ((max - min) / median). The time now is
    the anchor's rounds combined by ``summary`` (the table's: :func:`combine_rounds`)."""
    ratios = [
        combine_rounds(now, summary) / a.measured_ms
        for a, now in zip(anchors, rounds_ms, strict=True)
    ]
    return {
        "networks": len(anchors),
        "factor": float(statistics.median(ratios)),
        "ratio_spread": relative_spread(ratios),
    }


def scale_table(table: LookupTable, factor: float) -> None:
    """Multiply every time the table holds by ``factor`` (predictions follow exactly)."""
    if not factor > 0:
        raise DppnasError(f"speed factor must be positive, got {factor}")
    for timing in table.layers.values():
        timing.ms *= factor
    for network in table.networks:  # times scale; call counts (``calls:``) do not
        network.measured_ms *= factor
        network.parts = {
            g: v if g.startswith(CALLS) else v * factor for g, v in network.parts.items()
        }
    calibration = table.calibration  # a time per call scales
    per_call = {g: v * factor for g, v in calibration.scales.items() if g.startswith(CALLS)}
    table.calibration = calibration.model_copy(
        update={
            "intercept_ms": calibration.intercept_ms * factor,
            "scales": {**calibration.scales, **per_call},
        }
    )


def reanchor_table(
    table: LookupTable,
    k: int = 20,
    rounds: int = 5,
    seed: int = 0,
    timing: TimingOptions = NETWORK_TIMING,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Re-time ``k`` calibration networks here and scale ``table`` in place by the speed factor;
    the factor's record (also appended to ``table.machine["reanchored"]``)."""
    anchors = anchor_networks(table, k, seed)
    models = anchor_models(table, anchors)
    log(f"reanchor: timing {len(anchors)} calibration networks, {rounds} rounds")
    record = speed_factor(
        anchors,
        time_like_table(table, models, rounds, timing, seed, log, "reanchor"),
        table.rounds_summary,
    )
    scale_table(table, record["factor"])
    record["date"] = now_iso()
    table.machine.setdefault("reanchored", []).append(record)
    table.updated = record["date"]
    return record
