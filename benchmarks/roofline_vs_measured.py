"""The shipped roofline specs against real measurements of every NB201 network (nb201-hw).

For each spec with a measured counterpart in the ``nb201-hw`` table, every network of the table
(5,488 distinct NB201 cells, NB201's CIFAR-10 network: 3x32x32 input, N=5, C=16) is estimated
from the spec (uncalibrated), and scored against the measured latency (Spearman, MAPE, share
within +-10 %). Then the spec's calibration (scale + intercept, or per-family scales when
leave-one-out error says so: :func:`dppnas.devices.calibration.fit_calibration`, what
``dppnas calibrate`` fits) is fitted to 10 random measured networks and scored on the others
(median over draws). Third, the spec's free parameters themselves are fitted to the same 10
networks (``--fit-spec``): effective FLOP/s and bytes/s on a log grid around the spec's, and
the per-layer and per-call overheads by non-negative least squares on relative error; the
fitted spec is scored on the others and its parameters printed (median over draws).

    python benchmarks/roofline_vs_measured.py [--draws 20] [--limit N] [--specs a,b]
        [--layer-overhead-us US]   # score a spec with another per-layer overhead
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from dppnas.bench.table import load_table
from dppnas.devices.calibration import fit_calibration
from dppnas.devices.roofline import (
    _FREE,
    RooflineDevice,
    RooflineOptions,
    layer_bytes,
    layer_flops,
)
from dppnas.profiling.evaluate import prediction_scores
from dppnas.profiling.profile import build_deployed
from dppnas.signatures.network import layer_signatures

INPUT_SHAPE = (3, 32, 32)
#: (spec, measured device in nb201-hw, batch size, how close the two are)
PAIRS: tuple[tuple[str, str, int, str], ...] = (
    ("raspberry-pi-4", "raspi4", 1, "same board (HW-NAS-Bench; TFLite, its own runtime)"),
    ("titan-x-pascal", "titanx_1", 1, "same card (HELP; PyTorch)"),
    ("titan-x-pascal", "titanx_32", 32, "same card, batch 32"),
    ("titan-x-pascal", "titanx_256", 256, "same card, batch 256"),
    ("titan-x-pascal", "titanxp_1", 1, "Titan Xp: same GP102 chip, 12.1 TFLOPS, 548 GB/s"),
    ("xeon-e5", "gold_6226", 1, "another Xeon (Cascade Lake, 12 cores): class only"),
    ("xeon-e5", "gold_6240", 1, "another Xeon (Cascade Lake, 18 cores): class only"),
    ("xeon-e5", "silver_4114", 1, "another Xeon (Skylake, 10 cores): class only"),
    ("xeon-e5", "silver_4210r", 1, "another Xeon (Cascade Lake, 10 cores): class only"),
)


#: factors of the spec's peak FLOP/s and bandwidth tried by the spec fit (1/1024 .. 4)
GRID = 2.0 ** np.arange(-10.0, 2.01, 0.5)


def layer_arrays(signatures, batch: int) -> tuple[np.ndarray, np.ndarray, int]:
    """FLOPs and bytes (fp32) of each layer that launches work, and how many there are."""
    work = [s for s in signatures if s.op not in _FREE]
    flops = np.array([batch * layer_flops(s) for s in work])
    moved = np.array([batch * layer_bytes(s) for s in work])
    return flops, moved, len(work)


def fit_spec(layers, measured: np.ndarray, peak: float, bandwidth: float):
    """``(peak_flops, bandwidth, layer_overhead_s, call_overhead_s)`` minimising the relative
    squared error of ``sum max(F/P, B/W) + n * layer + call`` on the given networks."""
    from scipy.optimize import nnls

    best = None
    counts = np.array([n for _, _, n in layers], dtype=float)
    for fp in GRID:
        for fb in GRID:
            p, w = peak * fp, bandwidth * fb
            roof = np.array([np.maximum(f / p, b / w).sum() for f, b, _ in layers]) * 1e3
            # measured (ms) = roof + layer_ms * n + call_ms  ->  relative residuals
            a = np.column_stack([counts, np.ones(len(counts))]) / measured[:, None]
            sol, _ = nnls(a, 1.0 - roof / measured)
            err = float(np.sum(np.square(a @ sol - (1.0 - roof / measured))))
            if best is None or err < best[0]:
                best = (err, p, w, sol[0] * 1e-3, sol[1] * 1e-3)
    assert best is not None
    return best[1:]


def spec_predict(layers, p: float, w: float, layer_s: float, call_s: float) -> np.ndarray:
    """Latency (ms) of each network under a fitted spec."""
    return np.array(
        [(np.maximum(f / p, b / w).sum() + n * layer_s + call_s) * 1e3 for f, b, n in layers]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20, help="random 10-network calibrations")
    parser.add_argument("--samples", type=int, default=10, help="measured networks to calibrate")
    parser.add_argument("--limit", type=int, default=0, help="only the first N networks (speed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--specs", help="only these specs (comma-separated)")
    parser.add_argument(
        "--layer-overhead-us", type=float, help="override the specs' layer_overhead_s (us)"
    )
    args = parser.parse_args()
    pairs = [p for p in PAIRS if not args.specs or p[0] in args.specs.split(",")]

    table = load_table("nb201-hw")
    entries = table.entries[: args.limit] if args.limit else table.entries
    started = time.perf_counter()
    signatures = [
        layer_signatures(build_deployed(table.space, e.arch, INPUT_SHAPE, 10), INPUT_SHAPE)
        for e in entries
    ]
    print(
        f"{len(entries)} NB201 networks traced in {time.perf_counter() - started:.0f} s", flush=True
    )
    print(
        f"{'spec':<15} {'measured':<13} {'batch':>5}  {'uncalibrated: spearman':>22} "
        f"{'mape%':>7} {'w10':>5}  | {'10-shot calibrated: spearman':>28} {'mape%':>6} "
        f"{'w10':>5}  {'scale':>6} {'intercept ms':>12}  counterpart"
    )
    rng = np.random.default_rng(args.seed)
    for spec, measured_name, batch, note in pairs:
        override = args.layer_overhead_us
        options = RooflineOptions(
            spec=spec,
            batch_size=batch,
            layer_overhead_s=None if override is None else override * 1e-6,
        )
        device = RooflineDevice(spec, options)
        parts = [device.parts(s) for s in signatures]
        estimate = np.array([sum(p.values()) for p in parts])
        measured = np.array([e.values[f"latency/{measured_name}"] for e in entries])
        raw = prediction_scores(measured, estimate)
        cal_scores, scales, intercepts = [], [], []
        layers = [layer_arrays(sig, batch) for sig in signatures]
        fit_scores, fits = [], []
        for _ in range(args.draws):
            picked = rng.choice(len(entries), args.samples, replace=False)
            rest = np.setdiff1d(np.arange(len(entries)), picked)
            cal = fit_calibration([parts[i] for i in picked], measured[picked], per_family=False)
            predicted = np.array([max(0.0, cal.apply(parts[i])) for i in rest])
            cal_scores.append(prediction_scores(measured[rest], predicted))
            scales.append(cal.scale("*"))
            intercepts.append(cal.intercept_ms)
            spec_fit = fit_spec([layers[i] for i in picked], measured[picked], *peaks(device))
            fits.append(spec_fit)
            fit_scores.append(
                prediction_scores(
                    measured[rest], spec_predict([layers[i] for i in rest], *spec_fit)
                )
            )

        print(
            f"{spec:<15} {measured_name:<13} {batch:>5}  {raw['spearman']:>22.3f} "
            f"{raw['mape']:>7.1f} {raw['within_10pct']:>5.3f}  | {median_score(cal_scores, 'spearman'):>28.3f} "
            f"{median_score(cal_scores, 'mape'):>6.1f} {median_score(cal_scores, 'within_10pct'):>5.3f}  {statistics.median(scales):>6.2f} "
            f"{statistics.median(intercepts):>12.3f}  {note}"
        )
        fitted = np.median(np.array(fits), axis=0)
        fit_med = {k: median_score(fit_scores, k) for k in ("spearman", "mape", "within_10pct")}
        print(
            f"{'':<35} spec fitted to 10: spearman {fit_med['spearman']:.3f} mape "
            f"{fit_med['mape']:.1f} w10 {fit_med['within_10pct']:.3f}; effective "
            f"{fitted[0] / 1e9:.3g} GFLOP/s (spec {device.spec.peak_flops / 1e9:.3g}), "
            f"{fitted[1] / 1e9:.3g} GB/s (spec {device.spec.memory_bandwidth / 1e9:.3g}), "
            f"{fitted[2] * 1e6:.1f} us/layer (spec {device.spec.layer_overhead_s * 1e6:.1f}), "
            f"{fitted[3] * 1e3:.3f} ms/call (medians over draws)"
        )
        ratio = measured / estimate
        print(
            f"{'':<35} measured / estimate: median {np.median(ratio):.2f} "
            f"(p10 {np.percentile(ratio, 10):.2f}, p90 {np.percentile(ratio, 90):.2f}); "
            f"estimate {np.median(estimate):.3f} ms, measured {np.median(measured):.3f} ms "
            f"(medians)"
        )


def median_score(scores: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in scores if s[key] is not None)


def peaks(device: RooflineDevice) -> tuple[float, float]:
    return device.spec.peak_flops, device.spec.memory_bandwidth


if __name__ == "__main__":
    main()
