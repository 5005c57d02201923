"""How repeatable each device's measurements in ``nb201-hw.csv.gz`` are: the few-shot goal's
measured limit (a prediction is scored against one measurement).

NAS-Bench-201 encodes many networks several times: cells that differ only by relabelling nodes
or routing through ``skip_connect`` compute the same thing (:mod:`dppnas.spaces.nb201`), and
HELP / HW-NAS-Bench measured every encoding separately. Taking only encodings without any dead
edge (every non-``none`` edge live, so every runtime runs the same ops), each such network with
at least ``--min-repeats`` encodings is one network measured that many times. For each
measurement, the median of its repeats (the others) stands in for the network's true latency:
the share within +-10 % of it is about the best share within +-10 % any model of the network
can reach on that device. Also: the share of networks for which a device's rounding to whole
milliseconds alone (``pixel2``: 4-51 ms) can move the true value by more than 10 %.

    python benchmarks/transfer_repeatability.py [--csv ../shared/data/nb201/nb201-hw.csv.gz]

Data: HELP (github.com/HayeonLee/HELP, MIT, Copyright (c) 2024 HayeonLee) and HW-NAS-Bench
(GATECH-EIC/HW-NAS-Bench, MIT), as assembled in ``../shared/data/nb201`` (see its README).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np

from dppnas.devices.reference_table import load_reference_latencies
from dppnas.nn.nb201 import live_edges
from dppnas.spaces.nb201 import EDGE_NAMES, NB201Genotype, canonical_cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="../shared/data/nb201/nb201-hw.csv.gz")
    parser.add_argument("--min-repeats", type=int, default=3)
    args = parser.parse_args()
    table = load_reference_latencies(args.csv)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, arch in enumerate(table.archs):
        ops = tuple(arch[e] for e in EDGE_NAMES)
        live = live_edges(ops)
        if any(live) and all(on or op == "none" for op, on in zip(ops, live, strict=True)):
            groups[canonical_cell(NB201Genotype(ops)).ops].append(i)
    repeated = [np.array(m) for m in groups.values() if len(m) >= args.min_repeats]
    print(
        f"{len(repeated)} networks measured {args.min_repeats}+ times (encodings without dead "
        f"edges), {sum(map(len, repeated))} measurements"
    )
    print(f"{'device':<15} {'within_10pct of repeats':>23} {'median |dev| %':>14}")
    for device in sorted(table.latencies):
        y = table.latencies[device]
        within, dev = [], []
        for members in repeated:
            v = y[members]
            for j in range(len(v)):
                ratio = v[j] / np.median(np.delete(v, j))
                within.append(abs(ratio - 1) <= 0.1)
                dev.append(abs(ratio - 1))
        print(f"{device:<15} {np.mean(within):>23.3f} {100 * np.median(dev):>14.1f}")
    for device, y in sorted(table.latencies.items()):
        if np.allclose(y, np.round(y)):
            # reported r: the true value lies in [r - 0.5, r + 0.5); a perfect prediction of it
            # is within +-10 % of r unless |true - r| > 0.1 r, possible only for r < 5
            r = np.round(y)
            share = np.clip((0.1 * r) / 0.5, 0, 1)  # fraction of the bin within 10 % of r
            print(
                f"{device}: whole ms ({r.min():.0f}-{r.max():.0f}); networks at < 5 ms, where "
                f"rounding alone can exceed 10 %: {np.mean(r < 5):.4f}; share within +-10 % of a "
                f"perfect prediction of the unrounded value (uniform in the bin): "
                f"{np.mean(share):.4f}"
            )


if __name__ == "__main__":
    main()
