"""Time one DPP-Net scoring step: 500 candidates predicted, costed and selected.

A step of the searcher (search_algos/dpp) after fitting the surrogate: predict the accuracy of
every candidate (one batched pass of the LSTM ensemble), compute its device objectives without
training (search_algos/dpp/objectives.py: per-layer cache, measured device timed once per new
layer signature), and keep k by non-dominated sorting + crowding distance. The experiment's
space, dataset shape, devices and objectives are used as they are (default: dpp_fashion,
accuracy x latency measured on one CPU thread). ``--experiment
experiments/dpp_panacea_fashion.yaml`` adds a 2-thread device and params: on a 2-core machine
that other processes keep busy, every 2-thread timing spins against them and hits the
device's time cap (about 0.5 s per new layer), so that figure measures the machine's load.

The 500 candidates are a depth-3 step (28 kept depth-2 cells x 18 ops, first 500). Three
cache states are timed, side by side:

* ``cold``: a fresh cost model (reference network timed, every layer signature measured):
  what a searcher pays once, on its first costed step;
* ``step``: the cache as the previous step (all depth-2 expansions of 18 cells) left it, so
  only the layers new at depth 3 are measured: what a real step pays (the acceptance figure);
* ``hot``: everything cached (the pure lookup, predict and select cost).

The surrogate fit (once per step, before scoring) is printed for information; it is not part
of the scoring figure. The last line is ``seconds=X`` (the ``step`` figure).

    python benchmarks/dpp_step.py [--experiment experiments/dpp_fashion.yaml]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

DEFAULT = "experiments/dpp_fashion.yaml"


def synthetic_accuracy(cell) -> float:
    """A fixed function of the tokens, to give the surrogate something to fit."""
    value = 0.6
    for j, (norm, conv) in enumerate(cell.layers):
        value += (0.01 * (len(norm) % 3) + 0.005 * (len(conv) % 5)) * 0.8**j
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=DEFAULT)
    parser.add_argument("--candidates", type=int, default=500)
    parser.add_argument("--k", type=int, default=8)
    args = parser.parse_args()

    from dppnas.config import load_experiment
    from dppnas.devices import make_devices
    from search_algos.dpp import (
        AccuracySurrogate,
        CellCosts,
        expand,
        input_shape_of,
        root_cells,
        select,
    )

    torch.set_num_threads(1)  # as in a Tune driver sharing the machine with trials
    experiment = load_experiment(args.experiment)
    space = experiment.search_space
    o = space.options
    objectives = [ob for ob in experiment.objectives if ob.metric != "accuracy"]
    metrics = [ob.metric for ob in objectives]
    maximise = [ob.mode == "max" for ob in objectives]
    input_shape, num_classes = input_shape_of(experiment.dataset)
    devices = make_devices(experiment.devices)

    depth1 = root_cells(o.norms, o.convs)
    depth2 = expand(depth1, o.norms, o.convs)
    rng = np.random.default_rng(0)
    kept = [depth2[i] for i in rng.choice(len(depth2), 28, replace=False)]
    candidates = expand(kept, o.norms, o.convs)[: args.candidates]

    surrogate = AccuracySurrogate(o.norms, o.convs, seed=0)
    train = depth1 + kept[:8]
    start = time.perf_counter()
    surrogate.fit(train, [synthetic_accuracy(c) for c in train])
    fit_seconds = time.perf_counter() - start

    def new_costs() -> CellCosts:
        return CellCosts(space, input_shape, num_classes, devices, metrics)

    def score(costs: CellCosts) -> dict[str, float]:
        t0 = time.perf_counter()
        predicted = surrogate.predict(candidates)
        t1 = time.perf_counter()
        matrix = costs.matrix(candidates)
        t2 = time.perf_counter()
        order = select(predicted, matrix, maximise, args.k)
        t3 = time.perf_counter()
        assert len(order) == min(args.k, len(candidates))
        return {"predict": t1 - t0, "costs": t2 - t1, "select": t3 - t2, "total": t3 - t0}

    # warm the process once (imports, the flop counter's first use), outside every figure
    new_costs().matrix(depth1[:1])

    cold = score(new_costs())
    after_step2 = new_costs()
    after_step2.matrix(depth2)  # what step 2 of a real run costs and caches
    signatures_before = len(after_step2._layers)
    step = score(after_step2)
    new_signatures = len(after_step2._layers) - signatures_before
    hot = score(after_step2)

    print(
        f"experiment {experiment.name}: {len(candidates)} depth-3 candidates, objectives "
        f"accuracy (predicted) + {', '.join(metrics)}; input {input_shape}; "
        f"torch threads 1; surrogate fit (not timed below) {fit_seconds:.2f} s"
    )
    print(f"{'cache':<8}{'predict s':>11}{'costs s':>10}{'select s':>10}{'total s':>10}")
    for name, figures in (("cold", cold), ("step", step), ("hot", hot)):
        print(
            f"{name:<8}{figures['predict']:>11.3f}{figures['costs']:>10.3f}"
            f"{figures['select']:>10.3f}{figures['total']:>10.3f}"
        )
    print(
        f"step: {new_signatures} layer signatures new at depth 3 measured; "
        f"cold/step = {cold['total'] / step['total']:.1f}x, step/hot = "
        f"{step['total'] / hot['total']:.1f}x"
    )
    print(f"seconds={step['total']:.3f}")


if __name__ == "__main__":
    main()
