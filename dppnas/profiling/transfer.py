"""HELP's few-shot latency-transfer protocol, scored with :mod:`dppnas.devices.fewshot`.

HELP (Lee et al., NeurIPS 2021) splits NAS-Bench-201's measured devices into meta-train,
meta-valid and meta-test devices. For each meta-test (target) device and each draw, N
architectures are picked at random and their target latencies given to the model; it predicts
every other architecture, and the predictions are scored against the measured latencies
(Spearman, Kendall, share within +-10 %, MAPE). References are only meta-train and meta-valid
devices, never a target.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dppnas.devices.fewshot import AVERAGE, fit_fewshot
from dppnas.errors import DppnasError
from dppnas.profiling.evaluate import prediction_scores

#: HELP's device split on NAS-Bench-201 (README of ../shared/data/nb201, HELP's code)
HELP_META_TRAIN: tuple[str, ...] = (
    "1080ti_1",
    "1080ti_32",
    "1080ti_256",
    "silver_4114",
    "silver_4210r",
    "samsung_a50",
    "pixel3",
    "essential_ph_1",
    "samsung_s7",
)
HELP_META_VALID: tuple[str, ...] = ("titanx_1", "titanx_32", "titanx_256", "gold_6240")
HELP_META_TEST: tuple[str, ...] = (
    "titan_rtx_256",
    "gold_6226",
    "fpga",
    "pixel2",
    "raspi4",
    "eyeriss",
)
#: what HELP reports with 10 samples per target (Spearman), for comparison
HELP_SPEARMAN: dict[str, float] = {
    "titan_rtx_256": 0.987,
    "gold_6226": 0.989,
    "fpga": 0.985,
    "pixel2": 0.802,
    "raspi4": 0.890,
    "eyeriss": 0.940,
}
SCORES = ("spearman", "kendall", "within_10pct", "mape")


def transfer_scores(
    free: Mapping[str, np.ndarray],
    latencies: Mapping[str, np.ndarray],
    targets: Sequence[str],
    references: Sequence[str],
    *,
    samples: int = 10,
    draws: int = 20,
    seed: int = 0,
    average: int = AVERAGE,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Score few-shot transfer to each target (see the module docstring).

    ``free``: features free for every architecture besides reference latencies (``flops``,
    ``params``, ``ops/<choice>``); ``latencies``: measured latency (ms) per device name, arrays
    over the same architectures. Returns the ``latency-transfer`` JSON (per device, one value per
    draw of each score, plus the model each draw chose).
    """
    overlap = sorted(set(targets) & set(references))
    if overlap:
        raise DppnasError(
            f"latency-transfer: {', '.join(overlap)} is both a target and a reference"
        )
    unknown = [d for d in [*targets, *references] if d not in latencies]
    if unknown:
        raise DppnasError(
            f"latency-transfer: no latencies for {', '.join(unknown)} "
            f"(devices of the table: {', '.join(sorted(latencies))})"
        )
    n_archs = len(next(iter(latencies.values())))
    if not 3 <= samples < n_archs:
        raise DppnasError(
            f"--samples: must be between 3 and {n_archs - 1} (architectures), got {samples}"
        )
    if draws < 1:
        raise DppnasError(f"--draws: must be at least 1, got {draws}")
    features = {**free, **{f"latency/{r}": np.asarray(latencies[r], float) for r in references}}
    rng = np.random.default_rng(seed)
    devices: dict[str, Any] = {}
    for target in targets:
        y = np.asarray(latencies[target], dtype=float)
        result: dict[str, Any] = {k: [] for k in SCORES}
        result["models"] = []
        for _ in range(draws):
            picked = rng.choice(n_archs, size=samples, replace=False)
            rest = np.setdiff1d(np.arange(n_archs), picked)
            model = fit_fewshot(
                {k: v[picked] for k, v in features.items()}, y[picked], average=average
            )
            predicted = model.predict({k: features[k][rest] for k in model.inputs})
            scores = prediction_scores(y[rest], predicted)
            for key in SCORES:
                result[key].append(scores[key])
            result["models"].append(model.label)
        devices[target] = result
        log(
            f"latency-transfer: {target}: spearman {_median(result['spearman']):.3f} "
            f"(HELP {HELP_SPEARMAN.get(target, float('nan')):.3f}), within 10 % "
            f"{_median(result['within_10pct']):.3f}, mape {_median(result['mape']):.1f} %"
        )
    return {
        "samples": samples,
        "draws": draws,
        "seed": seed,
        "average": average,
        "references": list(references),
        "devices": devices,
        "summary": summary(devices),
    }


def _median(values: Sequence[float | None]) -> float:
    finite = [v for v in values if v is not None]
    return float(statistics.median(finite)) if finite else float("nan")


def summary(devices: Mapping[str, Mapping[str, Sequence[float | None]]]) -> dict[str, float]:
    """Medians over draws, then the mean Spearman and the minimum share within +-10 % over
    targets (the ``latency-transfer`` goal: >= 0.95 and >= 0.90)."""
    spearman = [_median(d["spearman"]) for d in devices.values()]
    within = [_median(d["within_10pct"]) for d in devices.values()]
    return {"mean_spearman": float(np.mean(spearman)), "min_within_10pct": float(min(within))}
