"""Does the hand-unrolled, batched ensemble fit of DPP-Net's surrogate pay?

Times one surrogate fit (3 members, 150 epochs, the defaults) on ``n`` observations two ways:
``batched`` (:func:`search_algos.dpp.surrogate._train_ensemble`: every member in one
hand-unrolled LSTM computation) and ``per member`` (one ``nn.LSTM`` and one Adam per member,
the same optimisation; tests/test_dpp_searcher.py checks they agree), on one thread as the
searcher fits. Architectures: ``dpp`` cells of depth 1-3 (2-6 tokens) and 6-token flat
configs. A fit runs once per DPP-Net step, between two steps' trials.

    python benchmarks/dpp_surrogate_fit.py [--sizes 18,50,100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from dppnas.threads import fixed_threads
from search_algos.dpp.surrogate import (
    AccuracySurrogate,
    SurrogateOptions,
    _LSTMRegressor,
    _member_seed,
    _train_ensemble,
)


def per_member(members, ids, lengths, target, options: SurrogateOptions) -> None:
    """One nn.LSTM forward/backward and one Adam per member (the plain way)."""
    for member in members:
        adam = torch.optim.Adam(member.parameters(), lr=options.lr)
        for _ in range(options.epochs):
            loss = F.mse_loss(member(ids, lengths), target)
            adam.zero_grad()
            loss.backward()
            adam.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="18,50,100")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vocabulary = [(f"d{i}", j) for i in range(6) for j in range(6)]
    options = SurrogateOptions()
    surrogate = AccuracySurrogate(vocabulary, options)
    print("n   tokens  batched s  per-member s  ratio")  # tokens: 2/4/6 (dpp cells) or 6
    for n in (int(s) for s in args.sizes.split(",")):
        for mixed in (True, False):
            lengths = rng.choice([2, 4, 6], n) if mixed else np.full(n, 6)
            archs = [tuple(vocabulary[6 * t + rng.integers(6)] for t in range(w)) for w in lengths]
            ids, lens = surrogate.encode(archs)
            target = torch.tensor(rng.normal(size=n), dtype=torch.float32)
            times: dict[str, list[float]] = {"batched": [], "per member": []}
            for _ in range(args.repeats):
                for name, fit in (("batched", _train_ensemble), ("per member", per_member)):
                    members = [
                        _LSTMRegressor.seeded(len(vocabulary), 16, 64, _member_seed(0, 0, m))
                        for m in range(options.ensemble)
                    ]
                    with fixed_threads(1):
                        start = time.perf_counter()
                        fit(members, ids, lens, target, options)
                        times[name].append(time.perf_counter() - start)
            b, p = (statistics.median(times[k]) for k in ("batched", "per member"))
            tokens = "2-6" if mixed else "6"
            print(f"{n:<4}{tokens:>6}  {b:9.3f}  {p:12.3f}  {p / b:5.2f}")


if __name__ == "__main__":
    main()
