"""``dppnas latency-eval``: how well a latency table predicts networks it has never seen.

Samples random architectures of a space (seeded) that are not among the table's calibration
networks, measures each on this machine with the ``measured`` method in interleaved rounds
(the reference: the rounds combined as the table combined its own, by default their minimum,
:func:`~dppnas.devices.timing.combine_rounds`; their run-to-run spread is reported), predicts
each with the table, and scores the predictions like nn-Meter (share within +-10 % of measured) plus MAPE and
rank correlations.

Re-anchoring (``reanchor=K``, ours; :mod:`dppnas.profiling.reanchor`): K of the table's own
calibration networks (never evaluated) are timed again in the same interleaved rounds as the
evaluated networks, and every prediction is multiplied by the machine's speed factor they give
(median ratio of their times now to their times at profiling). The scores without it are kept
under ``reanchor.unanchored``.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.devices.lut import LookupTable, LutDevice, now_iso, space_hash
from dppnas.devices.timing import TimingOptions, combine_rounds
from dppnas.devices.timing import relative_spread as spread_of
from dppnas.errors import DppnasError
from dppnas.profiling.profile import NETWORK_TIMING, build_deployed, sample_architectures
from dppnas.profiling.reanchor import anchor_models, anchor_networks, speed_factor, time_like_table
from dppnas.spaces import SearchSpace, arch_key
from dppnas.threads import fixed_threads


def prediction_scores(measured: Sequence[float], predicted: Sequence[float]) -> dict[str, Any]:
    """nn-Meter style accuracy of ``predicted`` against ``measured`` latencies (ms).

    ``within_10pct`` / ``within_5pct``: fraction of networks with ``|pred - meas| / meas`` at
    most 0.10 / 0.05; ``mape``: mean absolute percentage error (%); ``spearman``,
    ``kendall``: rank correlations (``None`` when undefined, e.g. fewer than 2 networks).
    """
    from scipy import stats

    y = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    rel = np.abs(p - y) / y
    scores: dict[str, Any] = {
        "within_10pct": float(np.mean(rel <= 0.10)),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "mape": float(np.mean(rel) * 100),
        "spearman": None,
        "kendall": None,
    }
    if len(y) >= 2 and np.ptp(y) > 0 and np.ptp(p) > 0:
        scores["spearman"] = float(stats.spearmanr(y, p).statistic)
        scores["kendall"] = float(stats.kendalltau(y, p).statistic)
    return scores


def evaluate_table(
    table_path: str | Path,
    space: SearchSpace,
    *,
    n: int = 200,
    seed: int = 0,
    rounds: int = 5,
    timing: TimingOptions = NETWORK_TIMING,
    reanchor: int = 0,
    rounds_summary: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure ``n`` held-out random architectures of ``space`` and score the table on them
    (re-anchored to this session's speed with ``reanchor`` calibration networks, see above).

    ``rounds_summary``: how each network's rounds are combined into its reference time
    (default: as the table combined its own rounds)."""
    if n < 1 or rounds < 1:
        raise DppnasError("latency-eval: --n and --rounds must be at least 1")
    if reanchor < 0:
        raise DppnasError("latency-eval: --reanchor must be 0 (off) or a number of networks")
    table = LookupTable.load(table_path)
    summary = rounds_summary or table.rounds_summary
    shape = table.input_shape
    device = LutDevice.from_table(table, "lut", str(table_path))
    held_out = table.calibration_keys(space.config())
    archs = sample_architectures(space, n, seed=seed, exclude=held_out)
    if not archs:
        raise DppnasError(
            f"latency-eval: every architecture of space {space.name!r} was used to calibrate "
            f"the table; nothing is left to evaluate on (use a larger space)"
        )
    if len(archs) < n:
        log(f"latency-eval: the space has only {len(archs)} architectures left; using them all")
    anchors = anchor_networks(table, reanchor, seed, space_hash(space.config())) if reanchor else []
    log(f"latency-eval: building {len(archs)} networks of {space.name!r}")
    models = [build_deployed(space, arch, shape, table.num_classes) for arch in archs]

    # predictions, and what one query costs (first: traces the model; then: cached)
    first, cached, predicted = [], [], []
    with fixed_threads(table.threads):
        for model in models:
            t0 = time.perf_counter()
            predicted.append(device.latency_ms(model, shape))
            t1 = time.perf_counter()
            device.latency_ms(model, shape)
            t2 = time.perf_counter()
            first.append((t1 - t0) * 1e3)
            cached.append((t2 - t1) * 1e3)

    # the reference: measured on this machine as the table was
    load_before = _load_average()
    started = time.perf_counter()
    timed = models + anchor_models(table, anchors)
    medians = time_like_table(table, timed, rounds, timing, seed, log, "latency-eval")
    medians, anchor_medians = medians[: len(archs)], medians[len(archs) :]
    measured = [combine_rounds(m, summary) for m in medians]
    spreads = [spread_of(m) for m in medians]

    scores = prediction_scores(measured, predicted)
    anchoring = None
    if anchors:
        anchoring = {**speed_factor(anchors, anchor_medians, summary), "unanchored": scores}
        predicted = [p * anchoring["factor"] for p in predicted]
        scores = prediction_scores(measured, predicted)
    result: dict[str, Any] = {
        "n": len(archs),
        **scores,
        "reference_spread": float(statistics.median(spreads)),
        "reference_spread_p90": float(np.percentile(spreads, 90)),
        "units": {
            "mape": "percent",
            "within_10pct": "fraction",
            "within_5pct": "fraction",
            "reference_spread": "median over networks of (max - min) / median of the rounds",
            "latency": "ms",
        },
        "reanchor": anchoring,
        "requested_n": n,
        "seed": seed,
        "rounds": rounds,
        "rounds_summary": summary,
        "space": space.config(),
        "table": {
            "path": str(table_path),
            "machine": table.machine,
            "layers": len(table.layers),
            "calibration": table.calibration.model_dump(mode="json"),
            "excluded_calibration_networks": len(held_out),
        },
        "query_ms": {
            "first_median": float(statistics.median(first)),
            "first_max": float(max(first)),
            "cached_median": float(statistics.median(cached)),
        },
        "measure_seconds": round(time.perf_counter() - started, 1),
        "load_average": {"before": load_before, "after": _load_average()},
        "date": now_iso(),
        "networks": [
            {
                "arch": arch_key(arch),
                "measured_ms": m,
                "predicted_ms": p,
                "spread": s,
                "rounds_ms": r,
            }
            for arch, m, p, s, r in zip(archs, measured, predicted, spreads, medians, strict=True)
        ],
    }
    return result


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None
