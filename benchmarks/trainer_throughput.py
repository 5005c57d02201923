"""Training throughput: dppnas's Trainer vs a bare PyTorch loop, side by side in one run.

Same network (the CondenseNet cell of the ``dpp`` space, same initial weights), same data
(tensors in memory), same batch size and optimizer. Rounds alternate between the two loops
so machine drift hits both; the median epoch time of each is reported. The last line is
``ratio=X`` = our images/s divided by the bare loop's (goal: >= 0.95).

    python benchmarks/trainer_throughput.py [--dataset fashion-mnist] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from dppnas.config import TrainOptions
from dppnas.data import load_dataset
from dppnas.spaces import make_space
from dppnas.spaces.dpp import CONDENSENET_CELL
from dppnas.train import Trainer, resolve_device


def bare_epoch(model, optimizer, x, y, batch_size, generator) -> None:
    """The loop a PyTorch user writes by hand: shuffle, slice, forward, backward, step."""
    model.train()
    n = len(y)
    perm = torch.randperm(n, generator=generator).to(x.device)
    for start in range(0, n - batch_size + 1, batch_size):
        idx = perm[start : start + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist", help="digits | fashion-mnist")
    parser.add_argument("--train-subset", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    options = {"name": args.dataset}
    if args.dataset != "digits":
        options["train_subset"] = args.train_subset
    data = load_dataset(options).to(device)
    space = make_space({"name": "dpp", "cells_per_stage": [2, 2], "growth": [8, 16]})
    torch.manual_seed(0)
    net = space.build(space.encode(CONDENSENET_CELL), data.input_shape, data.num_classes)

    train = TrainOptions(
        epochs=args.rounds + 1, batch_size=args.batch_size, lr=0.05, device=args.device
    )
    ours = Trainer(copy.deepcopy(net), data, train, device=device)
    bare_model = copy.deepcopy(net).to(device)
    if ours.memory_format == torch.channels_last:
        bare_model = bare_model.to(memory_format=torch.channels_last)
    bare_opt = torch.optim.SGD(
        bare_model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    generator = torch.Generator().manual_seed(0)
    x, y = data.x_train, data.y_train
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if ours.amp else None

    def timed(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def run_bare() -> None:
        if amp is None:
            bare_epoch(bare_model, bare_opt, x, y, args.batch_size, generator)
        else:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                bare_epoch(bare_model, bare_opt, x, y, args.batch_size, generator)

    # one warm-up epoch each (allocator, kernels), not timed
    ours.train_epoch()
    run_bare()
    ours_times, bare_times = [], []
    for _ in range(args.rounds):
        ours_times.append(timed(ours.train_epoch))
        bare_times.append(timed(run_bare))
    images = (len(y) // args.batch_size) * args.batch_size
    ours_ips = images / statistics.median(ours_times)
    bare_ips = images / statistics.median(bare_times)
    print(
        f"dataset={data.name} images/epoch={images} batch={args.batch_size} device={device} "
        f"threads={torch.get_num_threads()} amp={'bf16' if ours.amp else 'off'} rounds={args.rounds}"
    )
    print(f"{'loop':<8}{'images/s':>12}{'median epoch s':>16}")
    print(f"{'dppnas':<8}{ours_ips:>12.1f}{statistics.median(ours_times):>16.3f}")
    print(f"{'bare':<8}{bare_ips:>12.1f}{statistics.median(bare_times):>16.3f}")
    print(f"ratio={ours_ips / bare_ips:.3f}")


if __name__ == "__main__":
    main()
