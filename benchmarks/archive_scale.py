"""Archive at scale: 10,000 random 3-objective points, then hypervolume — ours vs Optuna's.

Inserts N points one by one into a :class:`ParetoArchive` (accuracy max, latency min, params
min; reference point (0, 1, 1)), then times ``archive.hypervolume()`` (moocore on the
maintained front) and, on the same N points, Optuna's internal
``optuna._hypervolume.compute_hypervolume`` (which filters the front itself). Both values are
checked to agree. Medians over ``--repeats`` calls. The last line is
``hv_ms=X ratio_vs_optuna=Y`` with Y = Optuna's time / ours (goal: X <= 10 ms).

    python benchmarks/archive_scale.py [--points 10000] [--shape cube|sphere] [--repeats 20]

``--shape sphere`` puts every point on one front (the hard case for hypervolume).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from optuna._hypervolume import compute_hypervolume

from dppnas.pareto import Objective, ParetoArchive, hypervolume, to_minimisation

OBJECTIVES = [
    Objective(metric="accuracy", mode="max", ref=0.0),
    Objective(metric="latency", mode="min", ref=1.0),
    Objective(metric="params", mode="min", ref=1.0),
]


def random_points(n: int, shape: str, seed: int) -> np.ndarray:
    """(n, 3) points in (accuracy, latency, params), all inside the reference box."""
    rng = np.random.default_rng(seed)
    if shape == "cube":
        return rng.uniform(0.0, 1.0, size=(n, 3))
    # On the unit sphere's positive octant (in minimisation form): mutually non-dominated.
    v = np.abs(rng.normal(size=(n, 3)))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    minimised = 0.999 * v
    return np.column_stack([1.0 - minimised[:, 0], minimised[:, 1], minimised[:, 2]])


def median_ms(fn: Callable[[], float], repeats: int) -> tuple[float, float]:
    """(median milliseconds per call, the value returned)."""
    value, times = 0.0, []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--shape", choices=["cube", "sphere"], default="cube")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    points = random_points(args.points, args.shape, args.seed)
    archive = ParetoArchive(OBJECTIVES)
    start = time.perf_counter()
    for i, (acc, lat, params) in enumerate(points):
        archive.add(f"t{i}", {}, {"accuracy": acc, "latency": lat, "params": params}, save=False)
    insert_s = time.perf_counter() - start
    print(
        f"inserted {args.points} {args.shape} points in {insert_s:.2f} s "
        f"({insert_s / args.points * 1e6:.0f} us each); front {len(archive.front())} points"
    )

    maximise = archive.maximise
    loss = to_minimisation(points, maximise)
    ref = to_minimisation(archive.reference_point, maximise)
    front_loss = to_minimisation(archive.points(front_only=True), maximise)

    def uncached() -> float:
        # the archive caches its hypervolume until the front changes: time the computation
        archive._hypervolume = None
        return archive.hypervolume()

    ours_ms, ours = median_ms(uncached, args.repeats)
    cached_ms, _ = median_ms(archive.hypervolume, args.repeats)
    all_ms, all_hv = median_ms(
        lambda: hypervolume(points, archive.reference_point, maximise), args.repeats
    )
    optuna_repeats = max(3, args.repeats // 4)
    optuna_ms, optuna_hv = median_ms(lambda: compute_hypervolume(loss, ref), optuna_repeats)
    optuna_front_ms, _ = median_ms(
        lambda: compute_hypervolume(front_loss, ref, assume_pareto=True), optuna_repeats
    )
    for name, value in (("moocore on all points", all_hv), ("optuna", optuna_hv)):
        if not np.isclose(value, ours, rtol=1e-9, atol=1e-12):
            raise SystemExit(f"hypervolume mismatch: archive {ours!r} vs {name} {value!r}")

    print(f"hypervolume {ours:.6f} (reference point {archive.reference_point.tolist()})")
    print(f"archive.hypervolume()            {ours_ms:9.3f} ms  (moocore, maintained front)")
    print(f"  the same, cached               {cached_ms:9.3f} ms  (front unchanged since)")
    print(f"moocore on all {args.points} points   {all_ms:9.3f} ms")
    print(f"optuna on all {args.points} points    {optuna_ms:9.3f} ms")
    print(f"optuna on the front only         {optuna_front_ms:9.3f} ms  (assume_pareto=True)")
    print(f"hv_ms={ours_ms:.3f} ratio_vs_optuna={optuna_ms / ours_ms:.1f}")


if __name__ == "__main__":
    main()
