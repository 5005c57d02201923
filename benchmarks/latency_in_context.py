"""Per-module latency inside a network against the latency table's isolated layer times.

For networks of the table's ``monas`` (layer-wise) space, every prefix of the network's
``features`` is timed (interleaved rounds, measured like the table: its threads, batch size and
statistic, rounds combined by its summary); the difference of two consecutive prefixes is the
module's time inside the network.

Without ``--held-out``: random networks, each module's time inside next to the table's time for
the same layer alone, with the median ratio per op family and the head (global pooling, linear,
the forward's own Python) last. Shows what the calibration's scales have to absorb.

With ``--held-out N``: a latency model from in-network layer times, scored against the table on
N held-out networks timed in the same rounds. The prefixes of the table's own calibration
networks give each layer signature's ratio inside / alone (median over its occurrences, shrunk
towards the machine's speed factor with the weight of ``--shrink`` occurrences, since one
prefix difference is noisy); a layer's time is its isolated time times that ratio (the speed
factor for a layer no calibration network has), and the calibration (the table's grouping) is
refitted on the calibration networks timed now. Printed side by side with the same refit on
isolated times (``refit``, so that only the in-network ratios differ) and the table as it is
(re-anchored by the speed factor).

    python benchmarks/latency_in_context.py TABLE.lut.json [--networks 10] [--rounds 3]
    python benchmarks/latency_in_context.py TABLE.lut.json --held-out 200 --rounds 11
"""

from __future__ import annotations

import argparse
import collections
import math
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from dppnas.devices.calibration import CALLS, fit_calibration, group_of
from dppnas.devices.lut import LookupTable, LutDevice, space_hash
from dppnas.devices.timing import combine_rounds
from dppnas.profiling.evaluate import prediction_scores
from dppnas.profiling.profile import build_deployed, sample_architectures
from dppnas.profiling.reanchor import time_like_table
from dppnas.signatures.layer import LayerSignature
from dppnas.signatures.network import layer_signatures
from dppnas.spaces import make_space


def time_prefixes(
    table: LookupTable,
    models: Sequence[nn.Module],
    extra: Sequence[nn.Module],
    rounds: int,
    seed: int,
) -> tuple[list[list[float]], list[float], list[float]]:
    """Per model, the time (ms) of each prefix of its ``features``; each model's whole time;
    each ``extra`` model's whole time: all in the same interleaved rounds, combined like the
    table's."""
    timed: list[nn.Module] = []
    for model in models:
        modules = list(model.features)
        timed += [nn.Sequential(*modules[:k]) for k in range(1, len(modules) + 1)] + [model]
    rounds_ms = time_like_table(table, [*timed, *extra], rounds, seed=seed, log=print)
    ms = [combine_rounds(r, table.rounds_summary) for r in rounds_ms]
    prefixes, whole, at = [], [], 0
    for model in models:
        n = len(model.features)
        prefixes.append(ms[at : at + n])
        whole.append(ms[at + n])
        at += n + 1
    return prefixes, whole, ms[at:]


def features_signatures(model: nn.Module, shape: tuple[int, int, int]) -> list[LayerSignature]:
    """The signatures of ``model.features``, one per module (the head's come after them)."""
    return [s for s in layer_signatures(model, shape) if s.family != "overhead"]


def report(table: LookupTable, space: Any, args: argparse.Namespace) -> None:
    shape = table.input_shape
    device = LutDevice.from_table(table, "table")
    archs = sample_architectures(space, args.networks, seed=args.seed)
    models = [build_deployed(space, arch, shape, table.num_classes) for arch in archs]
    prefixes, whole, _ = time_prefixes(table, models, [], args.rounds, args.seed)
    ratios: dict[str, list[float]] = collections.defaultdict(list)
    for i, model in enumerate(models):
        signatures = features_signatures(model, shape)
        alone = [table.layers[s.key].ms if s.key in table.layers else np.nan for s in signatures]
        n = len(model.features)
        print(
            f"network {i}: measured {whole[i]:.3f} ms, isolated layers sum "
            f"{np.nansum(alone):.3f} ms, table prediction {device.latency_ms(model, shape):.3f} ms"
        )
        previous = 0.0
        for k in range(n):
            inside, previous = prefixes[i][k] - previous, prefixes[i][k]
            ratios[signatures[k].family].append(inside / alone[k])
            print(f"  {signatures[k].key[:64]:64s} alone {alone[k]:.4f}  inside {inside:.4f}")
        head = whole[i] - previous
        ratios["head"].append(head / float(np.nansum(alone[n:])))
        print(
            f"  head (global pooling, linear, forward)    alone {np.nansum(alone[n:]):.4f}  "
            f"inside {head:.4f}"
        )
    print("family: median ratio inside / alone [IQR]")
    for family, values in ratios.items():
        q1, q3 = np.percentile(values, [25, 75])
        print(f"  {family}: {statistics.median(values):.2f} [{q1:.2f}, {q3:.2f}]")


def score(table: LookupTable, space: Any, args: argparse.Namespace) -> None:
    shape, classes = table.input_shape, table.num_classes
    device = LutDevice.from_table(table, "table")
    calibration = [n for n in table.networks if n.space == space_hash(space.config())]
    cal_models = [build_deployed(space, n.arch, shape, classes) for n in calibration]
    keys = table.calibration_keys(space.config())
    held = sample_architectures(space, args.held_out, seed=args.seed, exclude=keys)
    held_models = [build_deployed(space, arch, shape, classes) for arch in held]
    print(f"timing {len(cal_models)} calibration networks' prefixes and {len(held)} held-out")
    prefixes, whole, measured = time_prefixes(
        table, cal_models, held_models, args.rounds, args.seed
    )
    factor = statistics.median(w / n.measured_ms for w, n in zip(whole, calibration, strict=True))

    ratios: dict[str, list[float]] = collections.defaultdict(list)
    for model, times in zip(cal_models, prefixes, strict=True):
        previous = 0.0
        for signature, ms in zip(features_signatures(model, shape), times, strict=False):
            ratios[signature.key].append((ms - previous) / device.layer_ms(signature))
            previous = ms
    seen = {key: (statistics.median(r), len(r)) for key, r in ratios.items()}

    def parts(model: nn.Module, shrink: float) -> dict[str, float]:
        """Layer times inside networks per calibration group (ms, this session's speed), and
        the table's call counts where its grouping has them."""
        signatures = layer_signatures(model, shape)
        out = {g: n for g, n in device.parts(signatures).items() if g.startswith(CALLS)}
        for signature in signatures:
            ratio, n = seen.get(signature.key, (factor, 0))
            ratio = (
                (n * ratio + shrink * factor) / (n + shrink) if n and shrink < math.inf else factor
            )
            group = group_of(signature, table.calibration.groups)
            out[group] = out.get(group, 0.0) + device.layer_ms(signature) * ratio
        return out

    rows = {"table": [factor * device.latency_ms(m, shape) for m in held_models]}
    for name, shrink in (("refit", math.inf), ("in-network", args.shrink)):
        fitted = fit_calibration(
            [parts(m, shrink) for m in cal_models],
            whole,
            min_points=5,
            groups=table.calibration.groups,
        )
        rows[name] = [max(0.0, fitted.apply(parts(m, shrink))) for m in held_models]
    layers = [s.key for m in held_models for s in features_signatures(m, shape)]
    print(
        f"speed factor {factor:.3f}; held-out layers with an in-network ratio "
        f"{np.mean([k in seen for k in layers]):.3f}; shrink {args.shrink:g}"
    )
    print(f"{'model':12s} within_10pct within_5pct   MAPE  spearman")
    for name, predicted in rows.items():
        s = prediction_scores(measured, predicted)
        print(
            f"{name:12s} {s['within_10pct']:12.3f} {s['within_5pct']:11.3f} "
            f"{s['mape']:5.2f} % {s['spearman']:9.4f}"
        )
    base = np.abs(np.array(rows["refit"]) / measured - 1) <= 0.10
    ours = np.abs(np.array(rows["in-network"]) / measured - 1) <= 0.10
    print(
        f"in-network vs refit: {int((ours & ~base).sum())} networks gained, "
        f"{int((base & ~ours).sum())} lost"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table")
    parser.add_argument("--space", default="monas", help="a layer-wise space of the table")
    parser.add_argument("--networks", type=int, default=10, help="networks (report mode)")
    parser.add_argument("--held-out", type=int, default=0, help="score on N held-out networks")
    parser.add_argument("--shrink", type=float, default=10.0, help="pseudo-occurrences (score)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    table = LookupTable.load(args.table)
    config = table.space_config(args.space)
    if config is None:
        raise SystemExit(f"{args.table}: no profiled space {args.space!r}")
    (score if args.held_out else report)(table, make_space(config), args)


if __name__ == "__main__":
    main()
