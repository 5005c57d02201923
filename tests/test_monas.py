"""MONAS searcher: rewards (pure), space conversion, learning, feedback rules, checkpoints, Tune."""

from __future__ import annotations

import logging
import math
import pickle
from pathlib import Path

import moocore
import numpy as np
import pytest
from ray import tune

from dppnas.errors import DppnasError
from dppnas.pareto import Objective
from dppnas.spaces import make_space
from search_algos import SEARCHERS, MONASSearcher
from search_algos.decisions import space_from_param_space, space_from_search_space
from search_algos.monas import rewards

ROOT = Path(__file__).resolve().parents[1]
ACC = Objective(metric="accuracy", mode="max", ref=0.0)
LAT = Objective(metric="latency/local-cpu", mode="min", ref=10.0)
OBJECTIVES = [ACC, LAT]
METRIC = [o.metric for o in OBJECTIVES]
MODE = [o.mode for o in OBJECTIVES]
REF = [o.ref for o in OBJECTIVES]


# ---- rewards: pure functions -------------------------------------------------------------------


def test_mixed_reward_is_weighted_accuracy_minus_normalised_costs():
    params = Objective(metric="params", mode="min", ref=1e6)
    value = rewards.mixed_reward([0.8, 5.0, 2e5], [ACC, LAT, params], alpha=0.75)
    assert value == pytest.approx(0.75 * 0.8 - 0.25 * (5.0 / 10.0 + 2e5 / 1e6))


def test_constrained_reward_is_accuracy_in_budget_and_a_growing_penalty_outside():
    budgets = [None, 4.0]
    assert rewards.constrained_reward([0.7, 4.0], OBJECTIVES, budgets) == pytest.approx(0.7)
    slight = rewards.constrained_reward([0.9, 4.4], OBJECTIVES, budgets)
    far = rewards.constrained_reward([0.9, 8.0], OBJECTIVES, budgets)
    assert slight == pytest.approx(-0.1) and far == pytest.approx(-1.0)
    assert far < slight < 0 < rewards.constrained_reward([0.01, 3.0], OBJECTIVES, budgets)
    # a max objective can be constrained from below
    assert rewards.constraint_violation([0.5, 1.0], OBJECTIVES, [0.8, None]) == pytest.approx(
        0.3 / 0.8
    )


def test_pareto_reward_hypervolume_contribution_for_a_new_front_point():
    front = np.array([[0.9, 8.0], [0.6, 2.0]])
    new = [0.8, 4.0]
    z = np.array([[1 - 0.9, 0.8], [1 - 0.6, 0.2], [1 - 0.8, 0.4]])  # normalised by hand
    gain = moocore.hypervolume(z, ref=[1, 1]) - moocore.hypervolume(z[:2], ref=[1, 1])
    assert gain > 0
    assert rewards.pareto_reward(new, front, OBJECTIVES) == pytest.approx(math.sqrt(gain))
    # the first point earns its own hypervolume
    assert rewards.pareto_reward(new, np.empty((0, 2)), OBJECTIVES) == pytest.approx(
        math.sqrt(0.8 * 0.6)
    )


def test_pareto_reward_is_minus_the_distance_to_the_front_for_a_dominated_point():
    front = np.array([[0.9, 8.0], [0.6, 2.0]])
    # dominated by (0.6, 2.0): 0.1 worse in error, 0.1 worse in normalised latency
    assert rewards.pareto_reward([0.5, 3.0], front, OBJECTIVES) == pytest.approx(
        -math.hypot(0.1, 0.1)
    )
    assert rewards.pareto_reward([0.6, 2.0], front, OBJECTIVES) == pytest.approx(0.0)  # duplicate
    # non-dominated but beyond the reference latency: minus its distance to the box
    assert rewards.pareto_reward([0.95, 12.0], front, OBJECTIVES) == pytest.approx(-0.2)


def test_pareto_reward_is_scale_free():
    front = np.array([[0.9, 8.0], [0.6, 2.0]])
    in_seconds = [ACC, Objective(metric="latency/local-cpu", mode="min", ref=0.01)]
    for point in ([0.8, 4.0], [0.5, 3.0]):
        seconds = [point[0], point[1] / 1000]
        assert rewards.pareto_reward(seconds, front * [1, 1e-3], in_seconds) == pytest.approx(
            rewards.pareto_reward(point, front, OBJECTIVES)
        )


# ---- spaces ------------------------------------------------------------------------------------


def test_nested_param_space_becomes_ordered_decisions_and_configs():
    space = space_from_param_space(
        {
            "arch": {"a": tune.choice(["x", "y"]), "b": tune.randint(2, 5)},
            "train": {"lr": 0.1, "q": tune.qrandint(0, 10, 5)},
            "seed": 3,
        }
    )
    assert space.names == ["arch/a", "arch/b", "train/q"]
    assert [d.choices for d in space.decisions] == [("x", "y"), (2, 3, 4), (0, 5, 10)]
    assert space.config([1, 2, 0]) == {"arch": {"a": "y", "b": 4}, "train": {"q": 0}}


@pytest.mark.parametrize(
    ("param_space", "message"),
    [
        ({"arch": {"lr": tune.uniform(0, 1)}}, "'arch/lr' is a continuous domain"),
        ({"a": tune.grid_search([1, 2])}, "'a' is a grid_search"),
        ({"a": tune.sample_from(lambda _: 1)}, "'a' is Function"),
        ({"a": 1}, "at least one categorical decision"),
    ],
)
def test_non_categorical_domains_are_refused_with_the_key(param_space, message):
    with pytest.raises(DppnasError, match=message):
        space_from_param_space(param_space)


def test_dppnas_space_decisions_live_under_arch():
    space = space_from_search_space("monas")
    assert space.names[:3] == [
        "arch/layer1_filter_height",
        "arch/layer1_filter_width",
        "arch/layer1_filters",
    ]


def test_param_space_with_other_domains_than_the_searchers_space_is_refused():
    searcher = MONASSearcher(METRIC, MODE, {"a": tune.choice([1, 2])}, ref=REF)
    assert searcher.set_search_properties(None, None, {"a": tune.choice([1, 2]), "c": 5})
    with pytest.raises(DppnasError, match="'b' is not a decision"):
        searcher.set_search_properties(None, None, {"b": tune.choice([1, 2])})
    with pytest.raises(DppnasError, match="has choices"):
        searcher.set_search_properties(None, None, {"a": tune.choice([1, 3])})
    # metric/mode conflicts are Tune's "False"
    assert not searcher.set_search_properties("loss", "min", {})


# ---- learning on a synthetic problem -----------------------------------------------------------

DECISIONS, CHOICES = 8, 4


def _synthetic(seed: int = 0):
    """A known best architecture: per decision one choice of quality 1, the rest <= 0.5."""
    rng = np.random.default_rng(seed)
    quality = rng.uniform(0.0, 0.5, (DECISIONS, CHOICES))
    best = rng.integers(0, CHOICES, DECISIONS)
    quality[np.arange(DECISIONS), best] = 1.0
    latency = rng.uniform(0.0, 1.0, (DECISIONS, CHOICES))
    return quality, latency, [int(b) for b in best]


def _metrics(arch, quality, latency) -> dict:
    idx = [arch[f"d{i}"] for i in range(DECISIONS)]
    return {
        "accuracy": float(quality[np.arange(DECISIONS), idx].mean()),
        "latency/local-cpu": float(latency[np.arange(DECISIONS), idx].sum()),
        "final": True,
    }


SYNTHETIC_SPACE = {"arch": {f"d{i}": tune.choice(list(range(CHOICES))) for i in range(DECISIONS)}}


def _drive(searcher: MONASSearcher, n: int, evaluate, start: int = 0) -> list[dict]:
    """suggest -> evaluate -> on_trial_complete, ``n`` times; returns the configs."""
    configs = []
    for i in range(start, start + n):
        config = searcher.suggest(str(i))
        searcher.on_trial_complete(str(i), result=evaluate(config["arch"]))
        configs.append(config)
    return configs


@pytest.mark.parametrize("seed", [0, 1])
def test_controller_learns_the_best_architecture_and_beats_random_search(seed):
    quality, latency, best = _synthetic(seed)
    # plain REINFORCE sampling (the paper's): the best architecture may be drawn again
    searcher = MONASSearcher(
        METRIC, MODE, SYNTHETIC_SPACE, ref=REF, alpha=0.9, seed=seed, unique=False
    )
    updates = 40
    configs = _drive(
        searcher, updates * searcher.batch_size, lambda a: _metrics(a, quality, latency)
    )
    assert searcher.stats["updates"] == updates
    probs = searcher.choice_probabilities(best)
    assert min(p[b] for p, b in zip(probs, best, strict=True)) > 0.9

    def mixed(arch):
        m = _metrics(arch, quality, latency)
        return rewards.mixed_reward([m["accuracy"], m["latency/local-cpu"]], OBJECTIVES, 0.9)

    rng = np.random.default_rng(1000 + seed)  # not the problem's own stream
    randoms = [
        {f"d{i}": int(v) for i, v in enumerate(rng.integers(0, CHOICES, DECISIONS))}
        for _ in configs
    ]
    assert max(mixed(c["arch"]) for c in configs) > max(mixed(a) for a in randoms)
    assert searcher.stats["best_reward"] == pytest.approx(max(mixed(c["arch"]) for c in configs))


def test_unique_suggestions_still_learn_and_repeat_only_when_exhausted():
    quality, latency, best = _synthetic(0)
    searcher = MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, ref=REF, alpha=0.9, seed=0)
    assert searcher.unique
    configs = _drive(searcher, 40 * searcher.batch_size, lambda a: _metrics(a, quality, latency))
    keys = [tuple(c["arch"].values()) for c in configs]
    assert len(set(keys)) == len(keys) and searcher.stats["repeats"] == 0
    # the policy still concentrates on the best architecture (which it may not draw again)
    probs = searcher.choice_probabilities(best)
    assert min(p[b] for p, b in zip(probs, best, strict=True)) > 0.8

    # a 4-architecture space: 4 distinct suggestions, then repeats (counted, never a hang)
    tiny = MONASSearcher(
        METRIC,
        MODE,
        {"arch": {"a": tune.choice([1, 2]), "b": tune.choice([3, 4])}},
        ref=REF,
        seed=0,
    )
    drawn = [tuple(tiny.suggest(str(i))["arch"].values()) for i in range(6)]
    assert len(set(drawn[:4])) == 4 and tiny.stats["repeats"] == 2


def test_unique_is_by_architecture_in_a_dppnas_space():
    """A depth-1 DPP-Net cell ignores the second layer's choices: those encodings are one
    architecture, suggested once."""
    space = make_space(
        {"name": "dpp", "max_depth": 2, "norms": ["bn_relu"], "convs": ["conv1x1", "conv3x3"]}
    )
    searcher = MONASSearcher(METRIC, MODE, space, ref=REF, seed=0)
    cells = [space.decode(searcher.suggest(str(i))["arch"]) for i in range(2 + 4)]
    assert len(set(cells)) == 6 == space.size()
    assert searcher.stats["repeats"] == 0
    copy = pickle.loads(pickle.dumps(searcher))  # Tune pickles searchers
    for s in (searcher, copy):
        s.suggest("more")
        assert s.stats["repeats"] == 1


def test_constrained_reward_steers_samples_under_the_budget():
    widths = [1, 2, 3, 4]
    space = {"arch": {f"w{i}": tune.choice(widths) for i in range(6)}}

    def evaluate(arch):  # accuracy grows with width, latency is the total width (ms)
        total = sum(arch.values())
        return {"accuracy": 1 - math.exp(-total / 8), "latency/local-cpu": float(total)}

    budget = 12.0
    searcher = MONASSearcher(  # the policy's own samples: repeats allowed
        METRIC, MODE, space, ref=[0.0, budget], reward="constrained", seed=0, unique=False
    )
    configs = _drive(searcher, 30 * searcher.batch_size, evaluate)
    last = [evaluate(c["arch"])["latency/local-cpu"] for c in configs[-searcher.batch_size :]]
    assert np.mean([t <= budget for t in last]) >= 0.8
    rng = np.random.default_rng(0)
    random_totals = rng.choice(widths, size=(len(configs), 6)).sum(axis=1)
    assert np.mean(random_totals <= budget) <= 0.3
    assert max(last) > 6  # not simply the smallest network: accuracy still counts


# ---- feedback rules ----------------------------------------------------------------------------


def test_low_fidelity_errored_and_incomplete_results_are_fed_back_without_crashing(caplog):
    searcher = MONASSearcher(
        METRIC,
        MODE,
        SYNTHETIC_SPACE,
        ref=REF,
        reward="pareto",
        learn_from_low_fidelity=True,
        seed=0,
    )
    for i in range(6):
        searcher.suggest(f"t{i}")
    good = {"accuracy": 0.8, "latency/local-cpu": 4.0, "final": True}
    searcher.on_trial_complete("t0", result=good)
    searcher.on_trial_complete("t1", result={**good, "accuracy": 0.9, "final": False})
    searcher.on_trial_complete("t2", error=True)
    with caplog.at_level(logging.WARNING):
        searcher.on_trial_complete("t3", result={"accuracy": 0.9, "final": True})
        searcher.on_trial_complete("t4", result={**good, "accuracy": float("nan")})
        searcher.on_trial_complete("unknown", result=good)
    assert "no finite value for every objective" in caplog.text
    assert "unknown trial unknown" in caplog.text
    searcher.on_trial_complete("t5")  # removed by Tune before it ran: teaches nothing
    stats = searcher.stats
    assert stats["completed"] == 6 and stats["pending"] == 0
    assert (stats["errored"], stats["missing_metrics"], stats["low_fidelity"]) == (1, 2, 1)
    assert stats["cancelled"] == 1 and stats["waiting"] == 5
    assert searcher.rewards.front == [[0.8, 4.0]]  # the low-fidelity result never enters the front
    rewards_so_far = [c["reward"] for c in searcher._batch]
    assert rewards_so_far[0] > 0 and rewards_so_far[2:] == [None, None, None]  # penalties

    # the update resolves penalties to the lowest reward seen and trains without error
    for i in range(6, 9):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", error=True)
    assert searcher.stats["updates"] == 1 and searcher.stats["waiting"] == 0


def test_low_fidelity_results_are_ignored_by_default():
    searcher = MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, ref=REF, seed=0)
    searcher.suggest("a")
    searcher.on_trial_complete(
        "a", result={"accuracy": 0.5, "latency/local-cpu": 1.0, "final": False}
    )
    assert searcher.stats["low_fidelity"] == 1 and searcher.stats["waiting"] == 0


def test_max_trials_finishes_the_search():
    searcher = MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, ref=REF, max_trials=2, seed=0)
    assert searcher.suggest("a") and searcher.suggest("b")
    assert searcher.suggest("c") == MONASSearcher.FINISHED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reward": "pareto"}, "needs the reference point"),
        ({"reward": "constrained"}, "needs a budget"),
        ({"ref": [1.0]}, "one value per metric"),
        ({"ref": REF, "budgets": {"energy": 1.0}}, "not objectives: energy"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(DppnasError, match=message):
        MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, **kwargs)


# ---- checkpoints -------------------------------------------------------------------------------


def test_restored_searcher_makes_exactly_the_same_suggestions(tmp_path):
    quality, latency, _ = _synthetic(0)

    def evaluate(arch):
        return _metrics(arch, quality, latency)

    kwargs = {"ref": REF, "reward": "pareto", "batch_size": 4}
    original = MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, seed=0, **kwargs)
    _drive(original, 10, evaluate)  # two updates, two children waiting
    running = {tid: original.suggest(tid)["arch"] for tid in ("r1", "r2")}
    path = tmp_path / "searcher.pkl"
    original.save(str(path))

    restored = MONASSearcher(METRIC, MODE, SYNTHETIC_SPACE, seed=99, **kwargs)
    restored.restore(str(path))
    deferred = MONASSearcher(METRIC, MODE, seed=7, **kwargs)  # space arrives after restore
    deferred.restore(str(path))
    deferred.set_search_properties(None, None, SYNTHETIC_SPACE)
    pickled = pickle.loads(pickle.dumps(original))  # Tune pickles searchers (tuner.pkl)
    copies = [restored, deferred, pickled]
    assert all(c.stats == original.stats for c in copies)

    for searcher in [original, *copies]:
        for tid, arch in running.items():
            searcher.on_trial_complete(tid, result=evaluate(arch))
    expected = _drive(original, 12, evaluate, start=100)
    for searcher in copies:
        assert _drive(searcher, 12, evaluate, start=100) == expected
        assert searcher.choice_probabilities() == original.choice_probabilities()
    state = pickle.loads(path.read_bytes())["state"]  # the one format: a pickled dict
    assert state["pending"] == {
        tid: [int(arch[f"d{i}"]) for i in range(DECISIONS)] for tid, arch in running.items()
    }


# ---- TensorBoard, registry, experiment ---------------------------------------------------------


def test_tensorboard_logs_rewards_baseline_entropy_and_most_likely_choices(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    quality, latency, _ = _synthetic(0)
    searcher = MONASSearcher(
        METRIC, MODE, SYNTHETIC_SPACE, ref=REF, batch_size=2, seed=0, log_dir=tmp_path / "monas"
    )
    _drive(searcher, 4, lambda a: _metrics(a, quality, latency))
    searcher.close()
    events = EventAccumulator(str(tmp_path / "monas"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"monas/reward_mean", "monas/reward_max", "monas/baseline", "monas/entropy_nats"} <= tags
    assert "most_likely_prob/arch/d0" in tags and "most_likely/arch/d0" in tags
    assert [e.step for e in events.Scalars("monas/reward_mean")] == [1, 2]


def test_monas_experiment_builds_the_searcher_on_its_space(tmp_path):
    from dppnas.config import load_experiment
    from dppnas.tuning.tuner import make_search_alg, param_space

    experiment = load_experiment(ROOT / "experiments" / "monas_fashion.yaml")
    assert experiment.searcher.name == "monas" and "monas" in SEARCHERS
    searcher = make_search_alg(experiment, tmp_path)
    assert isinstance(searcher, MONASSearcher)
    assert searcher.rewards.kind == "pareto"
    assert searcher.rewards.ref == [o.ref for o in experiment.objectives]
    assert searcher.log_dir == tmp_path / "monas" and searcher.seed == experiment.seed
    assert searcher.set_search_properties(None, None, param_space(experiment))
    arch = searcher.suggest("x")["arch"]
    assert list(arch) == [d.name for d in experiment.search_space.decisions]
    experiment.search_space.decode(arch)  # a valid architecture


# ---- a real Tune run ---------------------------------------------------------------------------


class RecordingMONAS(MONASSearcher):
    """Records every trial it suggested and every completion Tune fed back."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.suggested: list[str] = []
        self.fed_back: list[tuple[str, bool, bool]] = []

    def suggest(self, trial_id):
        self.suggested.append(trial_id)
        return super().suggest(trial_id)

    def on_trial_complete(self, trial_id, result=None, error=False):
        self.fed_back.append((trial_id, result is not None, error))
        super().on_trial_complete(trial_id, result=result, error=error)


def _toy_trainable():
    """Four 'epochs' of a pure function; width 0 fails at once. Built in a
    closure so that Ray pickles it by value (workers cannot import this test module)."""

    def trainable(config):
        from ray import tune

        arch = config["arch"]
        for epoch in range(1, 5):
            if arch["width"] == 0:
                raise RuntimeError("this architecture does not fit")
            accuracy = (0.3 + 0.1 * arch["width"] + 0.05 * (arch["kernel"] == "k3")) * epoch / 4
            tune.report(
                {
                    "accuracy": accuracy,
                    "latency": {"local-cpu": 1.0 + arch["width"] + config["offset"]},
                    "epochs": 4,
                    "final": epoch == 4,
                }
            )

    return trainable


def test_tune_run_with_stopped_and_errored_trials_feeds_every_trial_back(ray_session, tmp_path):
    from dppnas.tuning.moasha import MOASHA

    num_samples = 12
    searcher = RecordingMONAS(METRIC, MODE, ref=REF, batch_size=4, seed=0)
    tuner_space = {
        "arch": {"width": tune.randint(0, 4), "kernel": tune.choice(["k1", "k3"])},
        "offset": 0.5,
    }
    tuner = tune.Tuner(
        _toy_trainable(),
        param_space=tuner_space,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=MOASHA(METRIC, MODE, max_t=4, grace_period=1, reduction_factor=2),
            num_samples=num_samples,
            max_concurrent_trials=2,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="monas", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == num_samples
    assert all(set(r.config["arch"]) == {"width", "kernel"} for r in results)
    assert all(r.config["offset"] == 0.5 for r in results)  # constants pass through

    assert len(searcher.suggested) == num_samples
    fed_back = [trial_id for trial_id, _, _ in searcher.fed_back]
    assert sorted(fed_back) == sorted(searcher.suggested)  # each trial once
    stats = searcher.stats
    assert stats["completed"] == num_samples and stats["pending"] == 0
    assert stats["errored"] == len(results.errors) >= 1
    assert stats["low_fidelity"] >= 1  # stopped by MO-ASHA before the full budget
    finals = [r for r in results if r.error is None and r.metrics.get("final")]
    # low-fidelity results teach nothing by default; every other completion does
    learned = num_samples - stats["low_fidelity"] - stats["cancelled"]
    assert finals and stats["updates"] == learned // 4

    # Tune checkpointed the searcher through save(); restore() brings back the same state
    (state_file,) = (tmp_path / "monas").glob("searcher-state-*.pkl")
    restored = MONASSearcher(METRIC, MODE, ref=REF, batch_size=4, seed=1)
    restored.restore(str(state_file))
    restored.set_search_properties(None, None, {"arch": tuner_space["arch"]})
    assert restored.stats == stats
    assert restored.choice_probabilities() == searcher.choice_probabilities()


@pytest.mark.parametrize(
    ("searcher", "message"),
    [
        ({"name": "monas", "rewards": "mixed"}, "searcher.rewards: unknown key"),
        ({"name": "monas", "alpha": 2}, "searcher.alpha"),
        ({"name": "monas", "budgets": {"energy/x": 1.0}}, "not objectives: energy/x"),
    ],
)
def test_bad_monas_options_are_one_line_config_errors(searcher, message, tmp_path):
    import yaml

    from dppnas.config import load_experiment
    from dppnas.errors import ConfigError
    from dppnas.tuning.tuner import make_search_alg

    data = yaml.safe_load((ROOT / "experiments" / "monas_fashion.yaml").read_text())
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**data, "searcher": searcher}))
    with pytest.raises(ConfigError, match=message):
        make_search_alg(load_experiment(path))


def test_a_param_space_carrying_a_dppnas_space_is_keyed_by_its_canonical_encoding():
    from search_algos.decisions import resolve_space

    space = make_space({"name": "dpp", "max_depth": 2, "cells_per_stage": [1], "growth": [8]})
    resolved = resolve_space({"arch": space.tune_space(), "space": space.config()})
    depth1 = space.tune_space()
    first = [0] + [0] * (len(depth1) - 1)  # depth 1, first norm and conv
    other = [0] + [0, 0] + [1] * (len(depth1) - 3)  # depth 1, unused second layer differs
    assert resolved.key(first) == resolved.key(other)
    assert resolve_space({"arch": space.tune_space()}).key(first) != resolve_space(
        {"arch": space.tune_space()}
    ).key(other)


def test_observed_scale_maps_the_best_values_seen_to_zero_and_ref_to_one():
    """``pareto_scale: observed``: each objective spans [ideal, ref] -> [0, 1], whatever ref."""
    objectives = [
        Objective(metric="accuracy", mode="max", ref=0.1),
        Objective(metric="latency/x", mode="min", ref=100.0),
    ]
    ideal = [0.9, 2.0]
    z = rewards.normalised_costs([[0.9, 2.0], [0.1, 100.0], [0.5, 51.0]], objectives, ideal)
    assert z == pytest.approx(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]]))
    # by |ref| instead, accuracy spans 8 units and latency 0.98: one dominates the distances
    z = rewards.normalised_costs([[0.9, 2.0], [0.1, 100.0]], objectives)
    assert z[1] - z[0] == pytest.approx([8.0, 0.98])
    # an ideal no better than ref keeps the |ref| scale
    assert rewards.normalised_costs([[0.1, 50.0]], objectives, [0.05, 200.0])[0] == pytest.approx(
        [1.0, 0.5]
    )
    front = [[0.9, 50.0], [0.5, 2.0]]
    knee = rewards.pareto_reward([0.8, 10.0], front, objectives, ideal)
    assert knee > 0  # non-dominated, inside the box: a hypervolume gain
    assert rewards.pareto_reward([0.4, 60.0], front, objectives, ideal) < 0
    with pytest.raises(DppnasError, match="pareto_scale"):
        MONASSearcher(metric=["a", "b"], mode=["max", "min"], pareto_scale="range")
