"""The DPP-Net searcher on the ``dpp`` space: expansion, NSGA-II selection, the LSTM surrogate,
candidates' costs, the step protocol, save/restore, and one real Tune run against random search.
Other spaces (growth rules, flat Tune param_spaces): tests/test_dpp_growth.py."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from dppnas.complexity import count_params
from dppnas.devices import DeviceModel, DeviceOptions
from dppnas.errors import ConfigError, DppnasError
from dppnas.pareto import hypervolume
from dppnas.spaces import Cell, make_space
from search_algos.dpp import (
    AccuracySurrogate,
    CellCosts,
    candidate_order,
    expand,
    kendall_tau,
    root_cells,
    select,
)
from search_algos.dpp.steps import training_set

NORMS = ["bn_relu", "bn", "identity"]
CONVS = ["conv1x1", "conv3x3", "gconv1x1", "gconv3x3", "lgconv1x1", "dwconv3x3"]
SPACE = {"name": "dpp", "max_depth": 3, "cells_per_stage": [1, 1], "growth": [8, 16]}

# A known function of the tokens: accuracy gains per norm / conv (later layers count less),
# latency (ms) per conv. Good convs cost more: a real accuracy / latency trade-off.
NORM_GAIN = dict(zip(NORMS, [0.03, 0.01, -0.02], strict=True))
CONV_GAIN = dict(zip(CONVS, [0.01, 0.04, -0.01, 0.02, 0.0, 0.015], strict=True))
CONV_MS = dict(zip(CONVS, [1.0, 3.0, 0.5, 1.2, 0.6, 0.8], strict=True))
REFERENCE = [0.5, 10.0]  # declared hypervolume reference: accuracy 0.5, latency 10 ms
VOCABULARY = [("norm", n) for n in NORMS] + [("conv", c) for c in CONVS]


def tokens(cells):
    """Cells as the dpp growth rule's (slot, op) tokens, the surrogate's input."""
    return [tuple(t for n, c in cell.layers for t in (("norm", n), ("conv", c))) for cell in cells]


def true_accuracy(cell: Cell) -> float:
    return 0.6 + sum((NORM_GAIN[n] + CONV_GAIN[c]) * 0.8**j for j, (n, c) in enumerate(cell.layers))


def true_latency(cell: Cell) -> float:
    return sum(CONV_MS[c] for _, c in cell.layers)


def synthetic_costs(configs):
    """The cost callable's contract: configs (``{"arch": {...}}`` here) in, one list out."""
    space = make_space(SPACE)
    return {"latency/x": [true_latency(space.decode(c["arch"])) for c in configs]}


def front_hypervolume(cells) -> float:
    points = [[true_accuracy(c), true_latency(c)] for c in cells]
    return hypervolume(points, REFERENCE, [True, False])


# --- expansion ------------------------------------------------------------------------------


def test_expansion_counts_per_step_without_duplicates():
    roots = root_cells(NORMS, CONVS)
    assert len(roots) == len(set(roots)) == 18 and {c.depth for c in roots} == {1}
    kept = roots[:5]
    children = expand(kept, NORMS, CONVS)
    assert len(children) == len(set(children)) == 5 * 18
    assert all(c.depth == 2 and Cell(c.layers[:1]) in kept for c in children)
    # a repeated parent adds nothing
    assert expand([*kept, kept[0], kept[1]], NORMS, CONVS) == children
    grandchildren = expand(children[:8], NORMS, CONVS)
    assert len(grandchildren) == len(set(grandchildren)) == 8 * 18


# --- selection ------------------------------------------------------------------------------


def _brute_fronts(points: np.ndarray) -> list[list[int]]:
    """Non-dominated sorting by definition (accuracy max, latency min)."""
    left, fronts = set(range(len(points))), []
    while left:
        front = [
            i
            for i in left
            if not any(
                points[j][0] >= points[i][0]
                and points[j][1] <= points[i][1]
                and (points[j][0] > points[i][0] or points[j][1] < points[i][1])
                for j in left
            )
        ]
        fronts.append(sorted(front))
        left -= set(front)
    return fronts


def _brute_crowding(points: np.ndarray) -> np.ndarray:
    n = len(points)
    distance = np.zeros(n)
    for j in range(points.shape[1]):
        order = sorted(range(n), key=lambda i: points[i][j])
        distance[order[0]] = distance[order[-1]] = np.inf
        span = points[order[-1]][j] - points[order[0]][j]
        for a, i, b in zip(order, order[1:], order[2:], strict=False):
            if span > 0:
                distance[i] += (points[b][j] - points[a][j]) / span
    return distance


def test_selection_takes_whole_fronts_then_the_most_crowding_distant():
    front0 = [(0.9, 5.0), (0.8, 3.0), (0.7, 1.0)]
    front1 = [(0.85, 6.0), (0.75, 4.0), (0.72, 3.5), (0.65, 2.0)]
    points = [front1[1], front0[0], (0.6, 7.0), front1[0], front0[2], front1[3], front1[2]]
    points += [front0[1]]
    chosen = {
        points[i] for i in select([p[0] for p in points], [[p[1]] for p in points], [False], 5)
    }
    # front 0 whole, then front 1's two boundary points (infinite crowding distance)
    assert chosen == {*front0, (0.65, 2.0), (0.85, 6.0)}


@pytest.mark.parametrize("seed", range(3))
def test_selection_matches_nsga2_by_definition(seed):
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(0.5, 0.9, 40), rng.uniform(1, 10, 40)])
    k = 15
    chosen = set(select(points[:, 0], points[:, 1:], [False], k).tolist())
    assert len(chosen) == k
    taken = 0
    for front in _brute_fronts(points):
        if taken + len(front) <= k:
            assert set(front) <= chosen  # whole fronts first
            taken += len(front)
            continue
        inside = [i for i in front if i in chosen]
        assert len(inside) == k - taken
        crowding = dict(zip(front, _brute_crowding(points[front]), strict=True))
        outside = [i for i in front if i not in chosen]
        if inside and outside:
            assert min(crowding[i] for i in inside) >= max(crowding[i] for i in outside)
        break


def test_accuracy_selection_is_pnas_and_costs_alone_work():
    accuracy = np.array([0.5, 0.9, 0.7, 0.9])
    assert candidate_order(accuracy, [[1], [9], [1], [2]], [False], "accuracy").tolist() == [
        1,
        3,
        2,
        0,
    ]
    # before any surrogate: ranked on costs alone (one cost: the cheapest first)
    assert candidate_order(None, [[3.0], [1.0], [2.0]], [False]).tolist() == [1, 2, 0]


# --- surrogate ------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_surrogate_learns_a_synthetic_ranking(loss):
    rng = np.random.default_rng(0)
    depth1 = root_cells(NORMS, CONVS)
    depth2 = expand(depth1, NORMS, CONVS)
    depth3 = expand(depth2, NORMS, CONVS)
    train = depth1 + [depth2[i] for i in rng.choice(len(depth2), 40, replace=False)]
    held_out = [depth3[i] for i in rng.choice(len(depth3), 100, replace=False)]
    surrogate = AccuracySurrogate(VOCABULARY, {"loss": loss}, seed=0)
    surrogate.fit(tokens(train), [true_accuracy(c) for c in train])
    mean = surrogate.predict(tokens(held_out))
    assert mean.shape == (100,)
    tau = kendall_tau(mean, [true_accuracy(c) for c in held_out])
    assert tau >= 0.7, tau


def test_surrogate_weights_round_trip():
    cells = root_cells(NORMS, CONVS)
    surrogate = AccuracySurrogate(VOCABULARY, {"ensemble": 2, "epochs": 5}, seed=3)
    surrogate.fit(tokens(cells), [true_accuracy(c) for c in cells])
    copy = AccuracySurrogate(VOCABULARY, {"ensemble": 2, "epochs": 5}, seed=3)
    copy.load_state_dict(pickle.loads(pickle.dumps(surrogate.state_dict())))
    np.testing.assert_array_equal(surrogate.predict(tokens(cells)), copy.predict(tokens(cells)))


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_ensemble_trained_together_equals_members_trained_alone(loss):
    """The batched ensemble fit is the same optimisation as one nn.LSTM and one Adam per member
    (mixed depths, so padding and the last-token read-out are exercised)."""
    import torch
    import torch.nn.functional as F

    from search_algos.dpp.surrogate import _LSTMRegressor, _member_seed

    depth1 = root_cells(NORMS, CONVS)
    cells = depth1 + expand(depth1[:2], NORMS, CONVS)[:10]
    accuracies = [true_accuracy(c) for c in cells]
    options = {"ensemble": 3, "epochs": 40, "weight_decay": 1e-3, "loss": loss}
    surrogate = AccuracySurrogate(VOCABULARY, options, seed=5)
    surrogate.fit(tokens(cells), accuracies)

    ids, lengths = surrogate.encode(tokens(cells))
    target = (torch.tensor(accuracies, dtype=torch.float32) - surrogate.mean) / surrogate.scale
    o = surrogate.options
    for m, batched in enumerate(surrogate.members):
        torch.manual_seed(_member_seed(5, 0, m))
        alone = _LSTMRegressor(len(NORMS) + len(CONVS), o.embedding, o.hidden)
        adam = torch.optim.Adam(alone.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        for _ in range(o.epochs):
            prediction = alone(ids, lengths)
            if loss == "huber":
                error = F.huber_loss(prediction, target)
            else:
                error = F.mse_loss(prediction, target)
            adam.zero_grad()
            error.backward()
            adam.step()
        with torch.no_grad():
            np.testing.assert_allclose(
                batched(ids, lengths).numpy(), alone(ids, lengths).numpy(), atol=1e-4
            )


# --- device objectives of untrained cells ----------------------------------------------------


def test_layer_costs_equal_whole_network_costs():
    from dppnas.devices import make_devices

    space = make_space(SPACE)
    devices = make_devices({"cpu": {"kind": "measured", "threads": 1, "time_cap_s": 0.05}})
    cells = [
        Cell((("bn_relu", "conv3x3"),)),
        Cell((("bn", "lgconv1x1"), ("identity", "dwconv3x3"))),
        Cell((("bn_relu", "gconv3x3"), ("bn", "gconv1x1"), ("bn_relu", "lgconv1x1"))),
    ]
    by_layers = CellCosts(space, (1, 8, 8), 10, devices, ["params", "flops", "latency/cpu"])
    whole = CellCosts(space, (1, 8, 8), 10, devices, ["params", "flops"], method="network")
    estimated = by_layers.matrix(cells)
    np.testing.assert_array_equal(estimated[:, :2], whole.matrix(cells))  # exact
    assert (estimated[:, 2] > 0).all()
    with pytest.raises(DppnasError, match="computable: params, flops, latency/cpu"):
        CellCosts(space, (1, 8, 8), 10, devices, ["latency/gpu"])


# --- the step protocol (no Ray session needed) -------------------------------------------------


def _searcher(**kwargs):
    from search_algos.dpp import DPPNetSearcher

    space = make_space(SPACE)
    options = {
        "space": space,
        "k": 4,
        "k0": 6,
        "costs": synthetic_costs,
        "surrogate": {"ensemble": 1, "epochs": 30},
        "seed": 0,
    }
    options.update(kwargs)
    searcher = DPPNetSearcher(["accuracy", "latency/x"], ["max", "min"], **options)
    searcher.set_search_properties(None, None, {"arch": space.tune_space()})
    return searcher, space


def _result(cell: Cell, final: bool = True) -> dict:
    return {"accuracy": true_accuracy(cell), "latency/x": true_latency(cell), "final": final}


def _suggest_all(searcher, space, ids):
    """Suggestions until the searcher says None or FINISHED: ``{trial_id: cell}``, last answer."""
    out = {}
    while True:
        trial_id = f"t{next(ids)}"
        config = searcher.suggest(trial_id)
        if not isinstance(config, dict):
            return out, config
        assert set(config) == {"arch"}
        out[trial_id] = space.decode(config["arch"])


def test_steps_suggest_k_then_wait_replace_errors_and_finish():
    from ray.tune.search import Searcher

    # parents="step" (PNAS): each step grows the previous step's cells, so step d is depth d
    searcher, space = _searcher(parents="step")
    ids = itertools.count()
    suggested: list[Cell] = []

    # step 1: k0 = 6 of 18 depth-1 cells, the cheapest (one device objective)
    batch, answer = _suggest_all(searcher, space, ids)
    assert answer is None and len(batch) == 6
    by_latency = sorted(root_cells(NORMS, CONVS), key=true_latency)  # stable: ties in order
    assert list(batch.values()) == by_latency[:6]
    suggested += batch.values()
    (errored, errored_cell), (stopped, stopped_cell), *rest = batch.items()
    searcher.on_trial_complete(errored, error=True)
    replacement, answer = _suggest_all(searcher, space, ids)
    assert list(replacement.values()) == [by_latency[6]] and answer is None
    suggested += replacement.values()
    searcher.on_trial_complete(stopped, result=_result(stopped_cell, final=False))
    for trial_id, c in [*rest, *replacement.items()]:
        searcher.on_trial_complete(trial_id, result=_result(c))
    kept = [c for c in by_latency[:7] if c != errored_cell]

    # a scheduler-stopped result is recorded, not trusted
    assert [o.final for o in searcher.observations if o.arch == stopped_cell] == [False]
    assert stopped_cell not in training_set(searcher.observations, searcher.rule, "accuracy")[0]

    # steps 2 and 3: k = 4 expansions of the kept cells each
    for depth, parents in ((2, kept), (3, None)):
        batch, answer = _suggest_all(searcher, space, ids)
        assert answer is None and len(batch) == 4
        assert all(c.depth == depth for c in batch.values())
        if parents is not None:
            assert all(Cell(c.layers[:1]) in parents for c in batch.values())
        suggested += batch.values()
        for trial_id, c in batch.items():
            searcher.on_trial_complete(trial_id, result=_result(c))
    assert searcher.suggest("last") == Searcher.FINISHED
    assert searcher.suggest("after") == Searcher.FINISHED and searcher.finished
    assert len(suggested) == len(set(suggested)) == 6 + 1 + 4 + 4  # never twice

    steps = searcher.history
    assert [r.step for r in steps] == [1, 2, 3]
    assert [r.candidates for r in steps] == [18, 6 * 18, 4 * 18]
    assert [r.trained for r in steps] == [6, 4, 4] and steps[0].errored == 1
    assert steps[1].kendall_tau is not None and steps[0].kendall_tau is None


def test_a_final_result_completes_its_trial_before_tune_does():
    """The step's last final result (on_trial_result) opens the next step; Tune's later
    on_trial_complete for that trial changes nothing; the steps are those of the plain path."""

    def run(early: bool) -> tuple[list[list[Cell]], int]:
        searcher, space = _searcher()
        ids = itertools.count()
        steps, carried = [], {}
        while True:
            batch, answer = _suggest_all(searcher, space, ids)
            batch = {**carried, **batch}
            if not batch:
                return steps, len(searcher.observations)
            steps.append(list(batch.values()))
            *first, (last, last_cell) = batch.items()
            for trial_id, c in first:
                searcher.on_trial_complete(trial_id, result=_result(c))
            # a non-final result is progress, not completion
            searcher.on_trial_result(last, {**_result(last_cell), "final": False})
            assert searcher.suggest(f"t{next(ids)}") is None
            carried = {}
            if early:
                searcher.on_trial_result(last, _result(last_cell))
                trial_id = f"t{next(ids)}"
                following = searcher.suggest(trial_id)  # the next step already, not None
                assert following is not None
                if isinstance(following, dict):
                    carried = {trial_id: space.decode(following["arch"])}
            searcher.on_trial_complete(last, result=_result(last_cell))

    plain, plain_observations = run(early=False)
    early, early_observations = run(early=True)
    assert [len(step) for step in plain] == [6, 4, 4]
    assert early == plain and early_observations == plain_observations == 14


def test_param_space_must_hold_the_dpp_decisions():
    from ray import tune

    from search_algos.dpp import DPPNetSearcher

    searcher = DPPNetSearcher(
        ["accuracy", "latency/x"], ["max", "min"], space=make_space(SPACE), costs=synthetic_costs
    )
    other = make_space({**SPACE, "max_depth": 2})
    with pytest.raises(DppnasError, match="not the decisions of the searcher's growth rule"):
        searcher.set_search_properties(None, None, {"arch": other.tune_space()})
    with pytest.raises(DppnasError, match="search domains none are not"):
        searcher.set_search_properties(None, None, {"x": 1})
    with pytest.raises(DppnasError, match="'train/lr' is a continuous domain"):
        searcher.set_search_properties(
            None,
            None,
            {"arch": make_space(SPACE).tune_space(), "train": {"lr": tune.uniform(0, 1)}},
        )
    with pytest.raises(DppnasError, match="none of \\['latency/x'\\] is maximised"):
        DPPNetSearcher(["latency/x"], ["min"], space=make_space(SPACE))


# --- save / restore ------------------------------------------------------------------------------


def _run_lockstep(searchers, space, ids, trials_left=None):
    """Drive searchers with identical ids and results; returns each one's suggestion list."""
    logs = [[] for _ in searchers]
    pending: list[str] = []
    while True:
        trial_id = f"t{next(ids)}"
        answers = [s.suggest(trial_id) for s in searchers]
        for log, answer in zip(logs, answers, strict=True):
            log.append(answer)
        if isinstance(answers[0], dict):
            pending.append(trial_id)
            continue
        if answers[0] == "FINISHED" or (trials_left is not None and trials_left <= 0):
            return logs, pending
        first = pending.pop(0)
        cell = searchers[0]._pending[first]
        for s in searchers:
            s.on_trial_complete(first, result=_result(cell))
        if trials_left is not None:
            trials_left -= 1


class _AnalyticDevice(DeviceModel):
    """A deterministic device (measured latencies differ run to run), counting its queries."""

    kind = "analytic"
    Options = DeviceOptions

    def __init__(self) -> None:
        super().__init__("cpu", DeviceOptions(kind="analytic"))
        self.queries = 0

    def latency_ms(self, model, input_shape):
        self.queries += 1
        return 1e-3 * count_params(model) + 0.01 * len(list(model.modules()))


def test_restored_searcher_continues_identically(tmp_path):
    from search_algos.dpp import DPPNetSearcher

    space = make_space({**SPACE, "norms": ["bn_relu", "identity"], "convs": CONVS[:3]})
    param_space = {"arch": space.tune_space(), "space": space.config(), "data": {"name": "digits"}}

    def make():  # space and input shape come from the param_space
        device = _AnalyticDevice()
        searcher = DPPNetSearcher(
            ["accuracy", "params", "flops", "latency/cpu"],
            ["max", "min", "min", "min"],
            k=3,
            devices={"cpu": device},
            surrogate={"ensemble": 2, "epochs": 20},
            seed=5,
            log_dir=tmp_path / "tb",
        )
        searcher.set_search_properties(None, None, param_space)
        return searcher, device

    original, device = make()
    ids = itertools.count()
    # step 1 (6 cells) done, step 2 scored and partly complete (2 of 3 pending)
    _, pending = _run_lockstep([original], space, ids, trials_left=7)
    assert original.history[-1].step == 2 and len(pending) == 2
    assert list(tmp_path.joinpath("tb").iterdir())  # TensorBoard events written
    pickle.dumps(original)  # picklable for Tune with the writer open
    original.save(str(tmp_path / "state.pkl"))
    restored, restored_device = make()
    restored.restore(str(tmp_path / "state.pkl"))
    queries_before = device.queries

    # results of the pending trials, then the rest of the search, fed to both
    for trial_id in pending:
        cell = original._pending[trial_id]
        for s in (original, restored):
            s.on_trial_complete(trial_id, result=_result(cell))
    logs, _ = _run_lockstep([original, restored], space, ids)
    assert logs[0] == logs[1] and logs[0][-1] == "FINISHED"
    assert sum(isinstance(a, dict) for a in logs[0]) == 3  # step 3
    strip = ("scoring_seconds", "fit_seconds", "step_seconds")
    assert [{k: v for k, v in vars(r).items() if k not in strip} for r in original.history] == [
        {k: v for k, v in vars(r).items() if k not in strip} for r in restored.history
    ]
    # the restored cost cache: only the layers new at depth 3 were costed, by both
    assert 0 < restored_device.queries == device.queries - queries_before


def test_a_state_saved_before_parents_existed_restores_as_step(tmp_path):
    """States saved before the ``parents`` option grew the previous step's architectures:
    they restore into ``parents="step"`` and are refused, naming it, by the new default."""
    searcher, space = _searcher(parents="step")
    _suggest_all(searcher, space, itertools.count())
    state = searcher.get_state()
    del state["settings"]["parents"]
    old, _ = _searcher(parents="step")
    old.set_state(state)
    assert old._step.queue == searcher._step.queue
    new, _ = _searcher()
    with pytest.raises(DppnasError, match="'parents': 'step'"):
        new.set_state(state)


# --- the registered factory ------------------------------------------------------------------


def test_factory_builds_the_quickstart_searcher(tmp_path):
    from dppnas.config import load_experiment, parse_experiment
    from dppnas.tuning.tuner import make_search_alg, param_space
    from search_algos.dpp import DPPNetSearcher

    experiment = load_experiment("experiments/quickstart.yaml")
    searcher = make_search_alg(experiment, tmp_path)
    assert isinstance(searcher, DPPNetSearcher)
    assert (searcher.k0, searcher.k, searcher.max_depth) == (8, 8, 2)
    assert searcher.planned_trials() == experiment.num_samples == 16
    assert searcher.log_dir == tmp_path / "dpp"
    assert searcher.set_search_properties(None, None, param_space(experiment))
    # any space: the monas space grows a layer per step
    data = experiment.model_dump(mode="json") | {"space": {"name": "monas", "num_layers": 2}}
    monas = make_search_alg(parse_experiment(data))
    assert (monas.rule.name, monas.max_depth) == ("monas", 2)
    assert monas.set_search_properties(None, None, param_space(parse_experiment(data)))
    data["searcher"] = {"name": "dpp", "growth": "nb201"}
    with pytest.raises(ConfigError, match="searcher: growth 'nb201' needs exactly"):
        make_search_alg(parse_experiment(data))


# --- one real Tune run -------------------------------------------------------------------------


def _make_trainable(norm_gain: dict, conv_gain: dict, conv_ms: dict):
    """The known functions as a pure-function trainable, built in a closure from plain dicts
    so that Ray pickles it by value (the workers cannot import this test module)."""

    def trainable(config):
        from ray import tune

        from dppnas.spaces import make_space as space_of

        cell = space_of(config["space"]).decode(config["arch"])
        accuracy = 0.6 + sum(
            (norm_gain[n] + conv_gain[c]) * 0.8**j for j, (n, c) in enumerate(cell.layers)
        )
        tune.report(
            {
                "accuracy": accuracy,
                "latency": {"x": sum(conv_ms[c] for _, c in cell.layers)},  # -> latency/x
                "epochs": 1,
                "final": True,
            }
        )

    return trainable


def _tune_run(search_alg, budget, storage, name):
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback

    space = make_space(SPACE)
    tuner = tune.Tuner(
        _make_trainable(NORM_GAIN, CONV_GAIN, CONV_MS),
        param_space={"arch": space.tune_space(), "space": space.config()},
        tune_config=tune.TuneConfig(
            search_alg=search_alg, num_samples=budget, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage), verbose=0, callbacks=[JsonLoggerCallback()]
        ),
    )
    results = tuner.fit()
    assert not results.errors
    cells = [space.decode(r.config["arch"]) for r in results]
    for cell, result in zip(cells, results, strict=True):  # the trainable is the known function
        assert result.metrics["accuracy"] == pytest.approx(true_accuracy(cell))
    return cells


def test_tune_run_reaches_a_higher_hypervolume_than_random_search(ray_session, tmp_path):
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from search_algos.dpp import DPPNetSearcher

    budget = 18 + 8 + 8  # all depth-1 cells, then k = 8 per step up to depth 3
    searcher = DPPNetSearcher(
        ["accuracy", "latency/x"],
        ["max", "min"],
        k=8,
        costs=synthetic_costs,
        seed=0,
    )
    # num_samples above the budget: the searcher itself ends the run (Searcher.FINISHED)
    dpp_cells = _tune_run(searcher, budget + 6, tmp_path, "dpp")
    random_cells = _tune_run(BasicVariantGenerator(random_state=0), budget, tmp_path, "random")
    assert len(dpp_cells) == len(set(dpp_cells)) == len(random_cells) == budget
    assert searcher.finished and [r.step for r in searcher.history] == [1, 2, 3]
    assert [r.trained for r in searcher.history] == [18, 8, 8]
    dpp_hv, random_hv = front_hypervolume(dpp_cells), front_hypervolume(random_cells)
    # the space's best possible: 2.158 (all 6174 cells); seeded random: 1.6 to 1.8
    assert dpp_hv > 1.1 * random_hv, (dpp_hv, random_hv)  # measured: 2.052 vs 1.757


def test_experiment_options_pick_the_growth_rule_its_order_and_base(tmp_path):
    from dppnas.config import load_experiment, parse_experiment
    from dppnas.tuning.tuner import make_search_alg

    data = load_experiment("experiments/quickstart.yaml").model_dump(mode="json")
    data["searcher"] = {"name": "dpp", "order": ["conv1", "norm1"], "base": {"norm1": "bn"}}
    searcher = make_search_alg(parse_experiment(data))
    assert searcher.rule.name == "prefix" and searcher.max_depth == 2
    first = [searcher.rule.config(a)["arch"] for a in searcher.rule.roots()]
    assert {a["norm1"] for a in first} == {"bn"} and len(first) == 6  # the convs, norm at base
    data["searcher"]["base"] = {"norm1": "groupnorm"}
    with pytest.raises(ConfigError, match="base value 'groupnorm' of 'arch/norm1'"):
        make_search_alg(parse_experiment(data))
