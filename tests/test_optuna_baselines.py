"""The Optuna baselines tell Optuna a trial stopped early by the scheduler as pruned."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dppnas.pareto import Objective
from search_algos.optuna_baselines import NSGA2Options, TPEOptions, nsga2, tpe

#: what the baselines read of an experiment
EXPERIMENT = SimpleNamespace(
    objectives=[
        Objective(metric="accuracy", mode="max", ref=0.0),
        Objective(metric="latency", mode="min", ref=10.0),
    ],
    seed=0,
)


@pytest.mark.parametrize("factory, options", [(nsga2, NSGA2Options()), (tpe, TPEOptions())])
def test_a_stopped_trial_is_pruned_and_a_final_one_complete(factory, options):
    from optuna.trial import TrialState
    from ray import tune

    searcher = factory(EXPERIMENT, options)
    assert searcher.set_search_properties(None, None, {"op": tune.choice(["a", "b", "c"])})
    for trial_id in ("stopped", "final", "unmarked", "failed"):
        assert searcher.suggest(trial_id) is not None
    values = {"accuracy": 0.4, "latency": 2.0, "training_iteration": 1}
    searcher.on_trial_complete("stopped", {**values, "final": False})
    searcher.on_trial_complete("final", {**values, "final": True})
    searcher.on_trial_complete("unmarked", values)  # a trainable without `final`: complete
    searcher.on_trial_complete("failed", {**values, "final": False}, error=True)
    states = [t.state for t in searcher._ot_study.trials]
    assert states == [TrialState.PRUNED, TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    assert searcher._ot_study.trials[1].values == [0.4, 2.0]


@pytest.mark.parametrize("factory, options", [(nsga2, NSGA2Options()), (tpe, TPEOptions())])
def test_a_tuner_with_each_baseline_can_be_built(factory, options, tmp_path):
    """Building a Tuner pickles its searcher (Optuna 5.1's NSGA-II holds a lock)."""
    from ray import cloudpickle, tune

    searcher = factory(EXPERIMENT, options)
    tune.Tuner(
        lambda config: None,
        param_space={"op": tune.choice(["a", "b", "c"])},
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="pickled"),
    )
    restored = cloudpickle.loads(cloudpickle.dumps(searcher))
    assert type(restored._sampler) is type(searcher._sampler)


def test_picklable_sampler_keeps_its_lock_working():
    import pickle

    from optuna.samplers import NSGAIISampler

    from search_algos.optuna_baselines import picklable

    sampler = picklable(NSGAIISampler)(population_size=4, seed=0)
    restored = pickle.loads(pickle.dumps(sampler))
    assert isinstance(restored, NSGAIISampler)
    assert restored.population_size == 4
    for name, value in vars(sampler).items():
        if "lock" in name:
            assert type(getattr(restored, name)) is type(value)
            with getattr(restored, name):
                pass
