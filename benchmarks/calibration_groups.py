"""A latency table's calibration groupings side by side, on the same timings.

The table's calibration is refitted with each grouping (``backend``: kernel groups and a time
per call of each convolution backend, the default; ``kernel``: the default before; ``family``)
on the table's own calibration networks, and every refit predicts the held-out networks of the
given ``dppnas latency-eval`` outputs, multiplied by each evaluation's speed factor (its
re-anchoring), against the latencies they measured. Nothing is timed: both sides see the same
measurements, so only the grouping differs.

A table made before backends were recorded gets them from this PyTorch at the table's thread
count and batch size (the choice depends only on shapes, threads and batch), which is said.

    python benchmarks/calibration_groups.py monas.lut.json monas-eval.json monas-eval-s2.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dppnas.devices.calibration import GROUPINGS, fit_calibration
from dppnas.devices.lut import LookupTable, LutDevice, space_hash
from dppnas.profiling.evaluate import prediction_scores
from dppnas.profiling.profile import build_deployed
from dppnas.signatures.backend import conv_backend
from dppnas.signatures.network import layer_signatures
from dppnas.spaces import make_space
from dppnas.threads import fixed_threads


def with_backends(table: LookupTable) -> bool:
    """Record each convolution's backend where the table has none; True if any was added."""
    added = False
    with fixed_threads(table.threads):
        for row in table.layers.values():
            if row.backend is None and row.signature.op == "conv2d":
                row.backend = conv_backend(row.signature, table.batch_size)
                added = True
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("evaluations", nargs="+", help="dppnas latency-eval --out files")
    args = parser.parse_args()

    table = LookupTable.load(args.table)
    if with_backends(table):
        print("(backends not in the table: taken from this PyTorch at the table's threads)")
    evaluations = [json.loads(Path(path).read_text()) for path in args.evaluations]
    spaces: dict[str, Any] = {}
    for evaluation in evaluations:
        config = evaluation["space"]
        spaces.setdefault(space_hash(config), make_space(config))
    shape = table.input_shape

    def signatures(space: Any, arch: dict[str, Any]) -> Any:
        return layer_signatures(build_deployed(space, arch, shape, table.num_classes), shape)

    calibration_signatures = [
        signatures(spaces[n.space], n.arch) for n in table.networks if n.space in spaces
    ]
    measured = [n.measured_ms for n in table.networks if n.space in spaces]
    held_out = [
        (
            [
                signatures(spaces[space_hash(e["space"])], json.loads(n["arch"]))
                for n in e["networks"]
            ],
            [n["measured_ms"] for n in e["networks"]],
            (e.get("reanchor") or {}).get("factor", 1.0),
        )
        for e in evaluations
    ]
    header = f"{'grouping':9} {'ridge':>6} {'loo MAPE':>9}  " + "  ".join(
        f"{path}: within_10pct / MAPE" for path in args.evaluations
    )
    print(header)
    device = LutDevice.from_table(table)  # reads table.calibration (and its grouping) live
    for grouping in GROUPINGS:
        table.calibration = table.calibration.model_copy(update={"groups": grouping})
        fitted = fit_calibration(
            [device.parts(s) for s in calibration_signatures], measured, groups=grouping
        )
        table.calibration = fitted
        cells = []
        for sigs, ms, factor in held_out:
            scores = prediction_scores(ms, [factor * device.predict_ms(s) for s in sigs])
            cells.append(f"{scores['within_10pct']:.3f} / {scores['mape']:.2f} %")
        calls = {k: round(v, 4) for k, v in fitted.scales.items() if k.startswith("calls:")}
        print(
            f"{grouping:9} {fitted.ridge if fitted.ridge is not None else 'inf':>6} "
            f"{fitted.loo_mape:8.2f} %  "
            + "  ".join(cells)
            + (f"  ms per call {calls}" if calls else "")
        )


if __name__ == "__main__":
    main()
