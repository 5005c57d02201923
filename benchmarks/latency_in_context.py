"""Per-module latency inside a network against the latency table's isolated layer times.

For random networks of the table's ``monas`` (layer-wise) space, every prefix of the network's
``features`` is timed (interleaved rounds, the table's statistic, 1 thread); the difference of
two consecutive prefixes is the module's time inside the network. Printed next to the table's
time for the same layer timed alone, with the median ratio per op family and the head (global
pooling, linear, the forward's own Python) last. Shows what the calibration's per-family scales
have to absorb.

    python benchmarks/latency_in_context.py TABLE.lut.json [--networks 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import statistics

import numpy as np
from torch import nn

from dppnas.devices.lut import LookupTable, LutDevice
from dppnas.profiling.profile import build_deployed, sample_architectures
from dppnas.profiling.reanchor import time_like_table
from dppnas.signatures.network import layer_signatures
from dppnas.spaces import make_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--space", default="monas", help="a layer-wise space of the table")
    parser.add_argument("--networks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    table = LookupTable.load(args.table)
    config = table.space_config(args.space)
    if config is None:
        raise SystemExit(f"{args.table}: no profiled space {args.space!r}")
    space, shape = make_space(config), table.input_shape
    device = LutDevice.from_table(table, "table")
    archs = sample_architectures(space, args.networks, seed=args.seed)
    models = [build_deployed(space, arch, shape, table.num_classes) for arch in archs]
    timed: list[nn.Module] = []
    keys: list[tuple[int, int | str]] = []
    for i, model in enumerate(models):
        modules = list(model.features)
        for k in range(1, len(modules) + 1):
            timed.append(nn.Sequential(*modules[:k]))
            keys.append((i, k))
        timed.append(model)
        keys.append((i, "all"))
    # measured as the table was (its threads, batch size and statistic), interleaved rounds
    rounds = time_like_table(table, timed, args.rounds, seed=args.seed, log=lambda m: None)
    ms = {key: statistics.median(r) for key, r in zip(keys, rounds, strict=True)}

    ratios: dict[str, list[float]] = collections.defaultdict(list)
    for i, model in enumerate(models):
        signatures = [s for s in layer_signatures(model, shape) if s.family != "overhead"]
        alone = [table.layers[s.key].ms if s.key in table.layers else np.nan for s in signatures]
        n = len(model.features)
        print(
            f"network {i}: measured {ms[(i, 'all')]:.3f} ms, isolated layers sum "
            f"{np.nansum(alone):.3f} ms, table prediction {device.latency_ms(model, shape):.3f} ms"
        )
        previous = 0.0
        for k in range(1, n + 1):
            inside = ms[(i, k)] - previous
            previous = ms[(i, k)]
            signature = signatures[k - 1]
            ratios[signature.family].append(inside / alone[k - 1])
            print(f"  {signature.key[:64]:64s} alone {alone[k - 1]:.4f}  inside {inside:.4f}")
        head = ms[(i, "all")] - previous
        ratios["head"].append(head / float(np.nansum(alone[n:])))
        print(
            f"  head (global pooling, linear, forward)    alone {np.nansum(alone[n:]):.4f}  "
            f"inside {head:.4f}"
        )
    print("family: median ratio inside / alone [IQR]")
    for family, values in ratios.items():
        q1, q3 = np.percentile(values, [25, 75])
        print(f"  {family}: {statistics.median(values):.2f} [{q1:.2f}, {q3:.2f}]")


if __name__ == "__main__":
    main()
