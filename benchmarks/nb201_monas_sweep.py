"""MONAS option sweep on ``nb201-hw``'s HELP meta-validation devices (the only devices any
default is tuned on).

    .venv/bin/python benchmarks/nb201_monas_sweep.py --baseline bench_results/nb201 \
        "{reward: mixed, batch_size: 4, lr: 0.03}" ...

Each argument is a YAML mapping of MONAS options. Per validation device (objectives accuracy
and ``latency/<device>``, 100 evaluations, seeds 0-19, ``--engine direct``) it prints the
median log10 hypervolume regret at 100 and at 50 evaluations and the evaluations the median
needs to reach TPE's at 100 (TPE's from ``BASELINE/<device>.json``, written by
``benchmarks/nb201_devices.py --devices valid``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from dppnas.bench.compare import compare

VALID = ["titanx_1", "titanx_32", "titanx_256", "gold_6240"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("configs", nargs="+")
    args = parser.parse_args()
    for config in args.configs:
        options = yaml.safe_load(config)
        row = []
        for device in VALID:
            base = json.loads((args.baseline / f"{device}.json").read_text())
            tpe = float(np.median(base["results"]["tpe"]["log_hv_regret"]))
            summary = compare(
                "nb201-hw",
                ["monas"],
                100,
                20,
                log=lambda m: None,
                options={"monas": options},
                objectives=["accuracy", f"latency/{device}"],
                engine="direct",
            )
            r = summary["results"]["monas"]
            curve = r["log_hv_regret_curve"]
            reach = next((int(c[0]) for c in curve if c[2] <= tpe), None)
            row.append(
                f"{device}: {np.median(r['log_hv_regret']):.3f} / {curve[49][2]:.3f}; "
                f"{'-' if reach is None else reach} (tpe {tpe:.3f})"
            )
        print(options, " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
