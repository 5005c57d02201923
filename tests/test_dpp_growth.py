"""DPP-Net on any categorical space: growth rules (pure), the accuracy metric, the costs
callable's contract, equivalent architectures, save/restore on a flat space, and one real Tune
run on a synthetic problem whose true front is known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from ray import tune

from dppnas.errors import DppnasError
from dppnas.pareto import Objective, non_dominated_mask
from search_algos.decisions import decisions_of
from search_algos.dpp.growth import (
    NB201_EDGES,
    NB201_OPS,
    Nb201Growth,
    PrefixGrowth,
    make_growth,
)

# --- the synthetic problem -------------------------------------------------------------------
# Six layers, each one of five ops; an op's accuracy gain counts less the deeper its layer
# (0.8 per layer), its latency (ms) does not depend on the layer. 5**6 = 15,625 architectures,
# 56 of them on the true front (enumerated below). "none" is the empty, cheapest choice: first,
# so the default base value.
OPS = ["none", "skip", "conv1x1", "conv3x3", "pool"]
GAIN = dict(zip(OPS, [0.0, 0.01, 0.03, 0.05, 0.015], strict=True))
LATENCY_MS = dict(zip(OPS, [0.0, 0.1, 1.0, 3.0, 0.8], strict=True))
LAYERS = [f"layer{i}" for i in range(6)]
PARAM_SPACE = {name: tune.choice(OPS) for name in LAYERS}
OBJECTIVES = [
    Objective(metric="valid_acc", mode="max", ref=0.6),
    Objective(metric="latency", mode="min", ref=20.0),
]
METRIC, MODE = [o.metric for o in OBJECTIVES], [o.mode for o in OBJECTIVES]
BUDGET = 5 + 5 * 8  # step 1: the 5 first-layer ops; then k = 8 for each of 5 more layers
#: measured (benchmarks/dpp_synthetic_front.py, 2,000 uniform draws of 45 distinct
#: architectures): true-front points found by random search, 95th percentile 1, maximum 3
RANDOM_FRONT_HITS_MAX = 3


def valid_acc(config: dict) -> float:
    return 0.6 + sum(GAIN[config[name]] * 0.8**i for i, name in enumerate(LAYERS))


def latency(config: dict) -> float:
    return 1.0 + sum(LATENCY_MS[config[name]] for name in LAYERS)


def latency_costs(configs: list[dict]) -> dict[str, list[float]]:
    """The costs callable of the contract: configs in, ``{metric: floats}`` out."""
    return {"latency": [latency(c) for c in configs]}


def true_front() -> set[tuple[float, float]]:
    configs = [dict(zip(LAYERS, ops, strict=True)) for ops in itertools.product(OPS, repeat=6)]
    points = np.array([[valid_acc(c), latency(c)] for c in configs])
    return {(round(a, 9), round(m, 9)) for a, m in points[non_dominated_mask(points, OBJECTIVES)]}


def front_hits(configs: list[dict]) -> int:
    """How many distinct points of the true front ``configs`` reach."""
    found = {(round(valid_acc(c), 9), round(latency(c), 9)) for c in configs}
    return len(found & true_front())


def _drive(searcher, evaluate, ids, limit=None):
    """Suggest and complete one trial at a time; the suggestions, until FINISHED or ``limit``."""
    out = []
    while limit is None or len(out) < limit:
        trial_id = f"t{next(ids)}"
        config = searcher.suggest(trial_id)
        if not isinstance(config, dict):
            break
        out.append(config)
        searcher.on_trial_complete(trial_id, result=evaluate(config))
    return out


def _evaluate(config: dict) -> dict:
    return {"valid_acc": valid_acc(config), "latency": latency(config), "final": True}


# --- growth rules ------------------------------------------------------------------------------


def test_prefix_growth_grows_decisions_in_order_with_the_rest_at_base():
    decisions = decisions_of({"a": tune.choice([1, 2, 3]), "b": tune.choice(["x", "y"]), "c": 7})
    rule = PrefixGrowth(decisions)
    assert rule.max_depth == 2
    assert [rule.config(a) for a in rule.roots()] == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "x"},
        {"a": 3, "b": "x"},
    ]
    children = rule.expand(rule.roots()[1:], 2)
    assert [rule.config(a) for a in children] == [
        {"a": 2, "b": "x"},  # the parent again: the searcher leaves it out (arch_key)
        {"a": 2, "b": "y"},
        {"a": 3, "b": "x"},
        {"a": 3, "b": "y"},
    ]
    assert rule.tokens(children[1]) == (("a", 1), ("b", 1))
    # the user's order (groups grow together) and base values
    rule = PrefixGrowth(decisions, order=[["b", "a"]], base={"a": 3})
    assert rule.max_depth == 1 and len(rule.roots()) == 6
    rule = PrefixGrowth(decisions, order=["b"], base={"a": 3})
    assert [rule.config(a) for a in rule.roots()] == [{"a": 3, "b": "x"}, {"a": 3, "b": "y"}]
    with pytest.raises(DppnasError, match="base value 4 of 'a' is not one of its choices"):
        PrefixGrowth(decisions, base={"a": 4})
    with pytest.raises(DppnasError, match="'z' is not a decision"):
        PrefixGrowth(decisions, order=["z"])
    with pytest.raises(DppnasError, match="names 'a' twice"):
        PrefixGrowth(decisions, order=["a", "a"])


def nb201_children(arch):
    """NB201's step written on dicts: every ``none`` edge turned into every other op."""
    out = []
    for edge in NB201_EDGES:
        if arch[edge] == "none":
            out += [{**arch, edge: op} for op in NB201_OPS if op != "none"]
    return out


def test_nb201_growth_starts_from_one_op_and_sets_one_none_edge_per_step():
    decisions = decisions_of({"arch": {edge: tune.choice(NB201_OPS) for edge in NB201_EDGES}})
    rule = make_growth("nb201", decisions)
    assert isinstance(rule, Nb201Growth) and rule.max_depth == 6
    roots = [rule.config(a)["arch"] for a in rule.roots()]
    assert len(roots) == 6 * 4 and len({tuple(r.values()) for r in roots}) == 24
    assert all(sum(op != "none" for op in r.values()) == 1 for r in roots)
    parent = rule.roots()[0]  # edge_1_0 = skip_connect
    children = [rule.config(a)["arch"] for a in rule.children(parent, 2)]
    assert len(children) == 5 * 4 and all(
        sum(op != "none" for op in c.values()) == 2 for c in children
    )
    assert children == nb201_children(rule.config(parent)["arch"])  # the same rule on dicts
    full = rule.roots()[0]
    for depth in range(2, 7):
        full = rule.children(full, depth)[0]
    assert rule.children(full, 7) == []
    with pytest.raises(DppnasError, match="growth 'nb201' needs exactly"):
        make_growth("nb201", decisions[:5])


def test_default_rule_is_the_spaces_own_or_prefix():
    from dppnas.spaces import make_space
    from search_algos.decisions import space_from_search_space

    monas = make_space({"name": "monas", "num_layers": 3})
    decisions = space_from_search_space(monas).decisions
    rule = make_growth(None, decisions, monas)
    assert rule.name == "monas" and rule.max_depth == 3
    assert len(rule.roots()) == 4 * 4 * 4  # layer 1's height x width x filters
    first = rule.config(rule.roots()[0])["arch"]
    assert first["layer3_filters"] == 24 and first["layer2_filter_height"] == 1  # at base
    assert make_growth(None, decisions, None).name == "prefix"
    assert make_growth(None, decisions, monas, order=["arch/layer1_filters"]).max_depth == 1
    with pytest.raises(DppnasError, match="unknown growth 'grow'"):
        make_growth("grow", decisions)
    with pytest.raises(DppnasError, match="grows cells of the dpp space"):
        make_growth("dpp", decisions, monas)
    with pytest.raises(DppnasError, match="max_depth 4 is outside growth 'monas'"):
        make_growth(None, decisions, monas, max_depth=4)


# --- the searcher on a flat param_space (no Ray session needed) ----------------------------------


def _searcher(**kwargs):
    from search_algos.dpp import DPPNetSearcher

    options = {"costs": latency_costs, "surrogate": {"ensemble": 2, "epochs": 60}} | kwargs
    searcher = DPPNetSearcher(METRIC, MODE, **options)
    searcher.set_search_properties(None, None, dict(PARAM_SPACE))
    return searcher


def test_the_accuracy_is_the_maximised_metric():
    from search_algos.dpp import DPPNetSearcher

    assert _searcher().accuracy_metric == "valid_acc"
    both = (["top1", "top5", "latency"], ["max", "max", "min"])
    with pytest.raises(DppnasError, match="top1, top5 are all maximised: name the one"):
        DPPNetSearcher(*both, costs=latency_costs)
    searcher = DPPNetSearcher(*both, costs=latency_costs, accuracy_metric="top1")
    assert searcher.cost_metrics == ["top5", "latency"]


def test_the_costs_callable_gets_configs_and_must_answer_every_cost_metric():
    seen = []

    def costs(configs):
        seen.extend(configs)
        return {"latency": [latency(c) for c in configs]}

    searcher = _searcher(costs=costs, k0=2)
    first = [searcher.suggest("a"), searcher.suggest("b")]
    assert seen == [
        {name: op} | dict.fromkeys(LAYERS[1:], "none") for name in LAYERS[:1] for op in OPS
    ]
    assert first == [seen[0], seen[1]]  # the cheapest two: none, skip
    for bad, message in [
        (lambda configs: {"lat": [1.0] * len(configs)}, "gave no value for \\['latency'\\]"),
        (lambda configs: {"latency": [1.0]}, "gave 1 values of 'latency' for 5 configs"),
    ]:
        with pytest.raises(DppnasError, match=message):
            _searcher(costs=bad, k0=2).suggest("a")


def test_equivalent_architectures_are_suggested_once(tmp_path):
    """A user arch_key: layers after a "none" do nothing, so configs that agree up to the
    first "none" are one network; neither searcher suggests such a network twice."""
    from search_algos import DPPNetSearcher, MONASSearcher

    def up_to_first_none(config):
        ops = [config[name] for name in LAYERS]
        return tuple(ops[: ops.index("none")] if "none" in ops else ops)

    dpp = DPPNetSearcher(METRIC, MODE, costs=latency_costs, arch_key=up_to_first_none, k=8)
    dpp.set_search_properties(None, None, dict(PARAM_SPACE))
    suggested = _drive(dpp, _evaluate, itertools.count())
    keys = [up_to_first_none(c) for c in suggested]
    assert dpp.finished and len(keys) == len(set(keys))
    # without it, configs are compared as they are, and equivalent networks come back
    plain = DPPNetSearcher(METRIC, MODE, costs=latency_costs, k=8)
    plain.set_search_properties(None, None, dict(PARAM_SPACE))
    keys = [up_to_first_none(c) for c in _drive(plain, _evaluate, itertools.count())]
    assert len(keys) > len(set(keys))

    monas = MONASSearcher(
        METRIC, MODE, dict(PARAM_SPACE), ref=[0.6, 20.0], arch_key=up_to_first_none, seed=0
    )
    keys = [up_to_first_none(c) for c in _drive(monas, _evaluate, itertools.count(), limit=40)]
    assert len(keys) == len(set(keys))


def test_restored_searcher_continues_identically_on_a_flat_space(tmp_path):
    ids = itertools.count()
    original = _searcher(k=4, seed=3)
    _drive(original, _evaluate, ids, limit=11)  # step 1, then step 2 and part of step 3
    running = {f"r{i}": original.suggest(f"r{i}") for i in range(2)}
    assert all(isinstance(c, dict) for c in running.values())
    original.save(str(tmp_path / "dpp.pkl"))
    restored = _searcher(k=4, seed=3)
    restored.restore(str(tmp_path / "dpp.pkl"))
    from search_algos.dpp import DPPNetSearcher

    surrogate = {"ensemble": 2, "epochs": 60}
    deferred = DPPNetSearcher(METRIC, MODE, costs=latency_costs, k=4, seed=3, surrogate=surrogate)
    deferred.restore(str(tmp_path / "dpp.pkl"))  # as Tune does: state before the param_space
    deferred.set_search_properties(None, None, dict(PARAM_SPACE))
    runs = []
    for searcher in (original, restored, deferred):
        for trial_id, config in running.items():
            searcher.on_trial_complete(trial_id, result=_evaluate(config))
        runs.append(_drive(searcher, _evaluate, itertools.count(100)))
    assert runs[0] == runs[1] == runs[2] and len(runs[0]) > 4 and original.finished
    with pytest.raises(DppnasError, match="made with"):
        _searcher(k=5, seed=3).restore(str(tmp_path / "dpp.pkl"))


# --- one real Tune run -------------------------------------------------------------------------


def _make_trainable(gain: dict, latency_ms: dict, layers: list):
    """The synthetic problem as a function trainable (a closure of plain dicts, so Ray pickles
    it by value: the workers cannot import this module)."""

    def trainable(config):
        from ray import tune

        tune.report(
            {
                "valid_acc": 0.6 + sum(gain[config[n]] * 0.8**i for i, n in enumerate(layers)),
                "latency": 1.0 + sum(latency_ms[config[n]] for n in layers),
                "final": True,
            }
        )

    return trainable


def test_plain_tune_run_on_a_flat_space_reaches_the_true_front(ray_session, tmp_path):
    """The contract: DPPNetSearcher(metric, mode, costs=fn) in a Tuner over a dict of
    categorical domains, nothing else. At 45 evaluations it puts more architectures on the
    true front than uniform random search does in any of 2,000 draws of that budget."""
    from search_algos import DPPNetSearcher

    searcher = DPPNetSearcher(metric=METRIC, mode=MODE, costs=latency_costs)
    tuner = tune.Tuner(
        _make_trainable(GAIN, LATENCY_MS, LAYERS),
        param_space=dict(PARAM_SPACE),
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=BUDGET + 10, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="flat", verbose=0),
    )
    results = tuner.fit()
    assert not results.errors and searcher.finished  # the searcher ended the run
    configs = [{name: r.config[name] for name in LAYERS} for r in results]
    assert len(configs) == BUDGET == len({tuple(c.values()) for c in configs})
    assert [r.trained for r in searcher.history] == [5, 8, 8, 8, 8, 8]
    assert all(r.kendall_tau is not None for r in searcher.history[1:])
    hits = front_hits(configs)
    assert hits > RANDOM_FRONT_HITS_MAX, hits  # measured: 5 (seed 0; parents="step": 7)


def test_device_models_cost_candidates_of_any_dppnas_space():
    """On the monas space (no per-layer model), candidates are costed as whole networks by
    the device models: step 1's k0 are the roots with the fewest parameters."""
    from dppnas.complexity import count_params
    from dppnas.nn import deploy
    from dppnas.spaces import make_space
    from search_algos.dpp import DPPNetSearcher

    space = make_space({"name": "monas", "num_layers": 2, "filters": [8, 16]})
    searcher = DPPNetSearcher(
        ["accuracy", "params"],
        ["max", "min"],
        space=space,
        k0=3,
        input_shape=(1, 8, 8),
        num_classes=10,
    )
    searcher.set_search_properties(
        None, None, {"arch": space.tune_space(), "space": space.config()}
    )
    assert searcher.rule.name == "monas" and searcher.cost_label == "device models"
    first = [searcher.suggest(f"t{i}")["arch"] for i in range(3)]
    roots = [searcher.rule.config(a)["arch"] for a in searcher.rule.roots()]
    params = [count_params(deploy(space.build(arch, (1, 8, 8), 10))) for arch in roots]
    cheapest = [roots[i] for i in np.argsort(params, kind="stable")[:3]]
    assert first == cheapest


@pytest.mark.parametrize("parents", ["step", "front"])
def test_nb201_growth_through_the_searcher_on_a_flat_space(parents):
    """The six NB201 edges as a flat param_space: growing the previous step's cells (PNAS),
    step d trains cells with d operations; growing the k best trained so far, a step's cells
    have at most d operations, and the last step still reaches d."""
    from search_algos.dpp import DPPNetSearcher

    op_ms = dict(zip(NB201_OPS, [0.0, 0.1, 1.0, 3.0, 0.5], strict=True))

    def costs(configs):
        return {"latency": [sum(op_ms[c[e]] for e in NB201_EDGES) for c in configs]}

    def evaluate(config):
        convs = sum(config[e].startswith("nor_conv") for e in NB201_EDGES)
        return {"acc": 0.5 + 0.05 * convs, "latency": costs([config])["latency"][0]}

    searcher = DPPNetSearcher(
        ["acc", "latency"],
        ["max", "min"],
        costs=costs,
        growth="nb201",
        k=4,
        max_depth=3,
        parents=parents,
    )
    searcher.set_search_properties(None, None, {e: tune.choice(NB201_OPS) for e in NB201_EDGES})
    suggested = _drive(searcher, evaluate, itertools.count())
    assert searcher.finished and len(suggested) == 24 + 4 + 4
    used = [sum(c[e] != "none" for e in NB201_EDGES) for c in suggested]
    if parents == "step":
        assert used == [1] * 24 + [2] * 4 + [3] * 4
    else:
        assert used[:24] == [1] * 24 and all(1 <= u <= 3 for u in used[24:28] + used[28:])
        assert max(used[28:]) == 3 and all(u <= 2 for u in used[24:28])


def test_growth_through_repeats_reaches_the_networks_behind_dead_edges():
    """On nb201, a one-edge cell off the input-output path is the empty network again: the
    paper's growth (children of an already-suggested network dropped) finds only 4 new
    two-edge networks from the five distinct roots; growing through repeats reaches every
    network one operation away, and a root's equivalent encodings grow with it."""
    from dppnas.spaces import make_space
    from search_algos.base import SpaceArchKey
    from search_algos.dpp.steps import grow, new_candidates

    decisions = decisions_of({"arch": {edge: tune.choice(NB201_OPS) for edge in NB201_EDGES}})
    rule = make_growth("nb201", decisions)
    space_key = SpaceArchKey(make_space({"name": "nb201"}))

    def key(arch):
        return space_key(rule.config(arch))

    roots, aliases, repeats = new_candidates(rule.roots(), key, set())
    assert len(roots) == 5 and repeats == [] and sum(map(len, aliases.values())) == 19
    suggested = {key(a) for a in roots}
    paper, _ = grow(rule, roots, 2, key, suggested, through_repeats=False)
    assert len(paper) == 4  # only the one kept encoding of the empty cell opens a path
    ours, _ = grow(rule, roots, 2, key, suggested)
    assert {key(a) for a in paper} < {key(a) for a in ours}
    assert not suggested & {key(a) for a in ours} and len({key(a) for a in ours}) == len(ours)
    parents = [b for a in roots for b in (a, *aliases.get(a, ()))]  # Step.kept() with aliases
    wider, _ = grow(rule, parents, 2, key, suggested, through_repeats=False)
    assert len(wider) > len(paper)


def test_beam_grows_the_measured_best_of_everything_trained():
    """parents="front": the k trained architectures first in NSGA-II order on measured
    accuracy and costs (a dominated one never, whichever step trained it); by accuracy alone
    for selection="accuracy"."""
    import numpy as np

    from search_algos.dpp.steps import StepSettings, beam

    latency = {"a": 1.0, "b": 1.0, "c": 0.5, "d": 3.0, "e": 0.5}
    accuracy = {"a": 0.9, "b": 0.5, "c": 0.8, "d": 0.95, "e": 0.1}

    def costs(archs):
        return np.array([[latency[a]] for a in archs])

    def settings(k, selection="pareto"):
        return StepSettings(k, None, selection, "acc", (False,), parents="front")

    archs = list(latency)
    acc = [accuracy[a] for a in archs]
    # non-dominated: c (0.8, 0.5 ms), a (0.9, 1 ms), d (0.95, 3 ms); b and e are dominated
    assert set(beam(archs, acc, costs, settings(3))) == {"a", "c", "d"}
    assert len(beam(archs, acc, costs, settings(2))) == 2
    assert set(beam(archs, acc, costs, settings(2))) <= {"a", "c", "d"}
    assert beam(archs, acc, costs, settings(2, "accuracy")) == ["d", "a"]
    assert beam(archs, acc, None, settings(1)) == ["d"]  # no costs: accuracy alone
