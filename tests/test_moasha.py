"""MO-ASHA: rung decisions on scripted results (hand-worked), and one real Tune run."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dppnas.errors import ConfigError, validate_section
from dppnas.pareto import Objective, ParetoArchive
from dppnas.tuning.moasha import MOASHA
from dppnas.tuning.rungs import rung_milestones
from dppnas.tuning.schedulers import SCHEDULERS

C, S = "CONTINUE", "STOP"


def _report(scheduler, trial_id, t, accuracy=None, latency=None):
    result = {"training_iteration": t}
    if accuracy is not None:
        result["accuracy"] = accuracy
    if latency is not None:
        result["latency/cpu"] = latency
    return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id), result)


def _moasha(**kwargs):
    options = dict(max_t=9, grace_period=1, reduction_factor=3)
    options.update(kwargs)
    return MOASHA(metric=["accuracy", "latency/cpu"], mode=["max", "min"], **options)


def test_rung_milestones():
    assert rung_milestones(1, 3, 9) == [1, 3]  # 9 is the full budget, not a rung
    assert rung_milestones(1, 3, 10) == [1, 3, 9]
    assert rung_milestones(2, 2, 16) == [2, 4, 8]
    assert rung_milestones(5, 3, 5) == []


def test_rung_decisions_match_the_hand_worked_example():
    """eta = 3: at a rung holding n vectors a newcomer continues if it is in the top floor(n/3)
    by non-dominated rank, then crowding distance (ties: the earlier trial)."""
    s = _moasha()
    assert s.milestones == [1, 3]
    script = [
        # trial, accuracy, latency, decision         why
        ("A", 0.50, 5.0, C),  # n=1 < eta: optimistic promotion
        ("B", 0.60, 4.0, C),  # n=2 < eta
        ("C", 0.40, 6.0, S),  # n=3, keep 1: B dominates A and C
        ("D", 0.70, 3.0, C),  # n=4, keep 1: D dominates everyone
        ("E", 0.65, 3.5, S),  # n=5, keep 1: dominated by D
        ("F", 0.80, 6.0, C),  # n=6, keep 2: front {D, F}
        ("G", 0.75, 4.0, S),  # n=7, keep 2: front {D, G, F}; D, F are boundary (inf crowding)
        ("H", 0.20, 9.0, S),  # n=8, keep 2: dominated
        ("I", 0.90, 2.0, C),  # n=9, keep 3: dominates everyone
    ]
    for trial, accuracy, latency, expected in script:
        assert _report(s, trial, 1, accuracy, latency) == expected, trial
    # between rungs: the decision at t=1 stands, nothing new is recorded
    assert _report(s, "A", 2, 0.1, 9.9) == C
    # the second rung (t=3) fills up on its own
    assert _report(s, "A", 3, 0.55, 4.8) == C  # n=1
    assert _report(s, "B", 3, 0.62, 3.9) == C  # n=2
    assert _report(s, "D", 3, 0.72, 3.0) == C  # n=3, keep 1: D dominates A and B
    assert _report(s, "F", 3, 0.81, 6.0) == S  # n=4, keep 1: D and F tie (both boundary): D first
    # the full budget always stops
    assert _report(s, "I", 9, 0.95, 2.0) == S
    assert s._num_stopped == 5


def test_epsilon_net_selection_changes_the_decision():
    """Five points on one front; eta = 1.6, so the fifth arrival keeps floor(5 / 1.6) = 3.

    Crowding distance ranks the boundary points a, e, then d (1.2) before c (1.1): c stops.
    The epsilon-net takes a, e, then c (farthest from both in normalised space): c continues.
    """
    arrivals = [("a", 0, 10), ("e", 10, 0), ("b", 5, 9), ("d", 8, 1), ("c", 6, 8)]
    decisions = {}
    for selection in ("nsga2", "epsnet"):
        s = MOASHA(
            metric=["x", "y"], mode="min", max_t=4, reduction_factor=1.6, selection=selection
        )
        decisions[selection] = [
            s.on_trial_result(
                None, SimpleNamespace(trial_id=t), {"training_iteration": 1, "x": x, "y": y}
            )
            for t, x, y in arrivals
        ]
    assert decisions["nsga2"] == [C, S, S, S, S]
    assert decisions["epsnet"] == [C, S, S, S, C]


def test_results_missing_a_metric_are_ignored():
    s = _moasha()
    for trial in ("A", "B", "C"):
        assert _report(s, trial, 1, 0.9) == C  # no latency: not recorded, continues
        assert _report(s, trial, 1, 0.9, float("nan")) == C
    assert _report(s, "D", 1, 0.1, 9.0) == C  # the rung is still empty: optimistic
    assert s.on_trial_result(None, SimpleNamespace(trial_id="E"), {"accuracy": 0.1}) == C


def test_search_properties_and_errors():
    s = _moasha()
    assert s.set_search_properties(None, None) is True  # what Tune passes for dppnas
    assert s.set_search_properties("accuracy", "max") is False  # Tune reports the conflict
    assert s.metric is None  # Tune's strict metric check must not see a list
    bare = MOASHA(max_t=9)
    assert bare.set_search_properties("loss", "min") is True and bare.metrics == ["loss"]
    with pytest.raises(ValueError, match="no objectives"):
        MOASHA(max_t=9).on_trial_add(None, SimpleNamespace(trial_id="x"))
    with pytest.raises(ValueError, match="one mode per metric"):
        MOASHA(metric=["a", "b"], mode=["max"])
    with pytest.raises(ValueError, match="selection"):
        MOASHA(metric=["a"], mode="max", selection="random")


def test_save_and_restore_keep_the_rungs(tmp_path):
    s = _moasha()
    for trial, accuracy, latency in [("A", 0.5, 5.0), ("B", 0.6, 4.0)]:
        _report(s, trial, 1, accuracy, latency)
    s.save(str(tmp_path / "moasha.pkl"))
    restored = _moasha()
    restored.restore(str(tmp_path / "moasha.pkl"))
    assert _report(restored, "C", 1, 0.4, 6.0) == S  # n=3: needs A and B from the checkpoint
    assert restored._num_stopped == 1


def test_registered_by_name_with_experiment_objectives():
    spec = SCHEDULERS.get("moasha")
    objectives = [
        Objective(metric="accuracy", mode="max", ref=0.0),
        Objective(metric="latency/local-cpu", mode="min", ref=5.0),
    ]
    options = validate_section(spec.options, {"selection": "epsnet"}, "scheduler")
    scheduler = spec.factory(options, objectives, 10)
    assert isinstance(scheduler, MOASHA)
    assert scheduler.metrics == ["accuracy", "latency/local-cpu"]
    assert scheduler.milestones == [1, 3, 9]  # max_t defaults to train.epochs (10)
    options = validate_section(spec.options, {"max_t": 4, "reduction_factor": 2}, "scheduler")
    assert spec.factory(options, objectives, 10).milestones == [1, 2]
    with pytest.raises(ConfigError, match="scheduler.eta: unknown key"):
        validate_section(spec.options, {"eta": 3}, "scheduler")


# ---- one real Tune run: MOASHA stops trials, the archive callback keeps every one ----

MAX_T = 4
TRIALS = 8


def _make_trainable(max_t: int):
    """A pure-function trainable; defined in a closure so that Ray pickles it by value (the
    workers cannot import this test module)."""

    def trainable(config):
        from ray import tune

        i = config["i"]  # later trials are worse in both objectives
        for it in range(1, max_t + 1):
            tune.report(
                {
                    "accuracy": (0.9 - 0.05 * i) * it / max_t,
                    "latency": {"cpu": 1.0 + i},  # nested: Tune flattens it to latency/cpu
                    "final": it == max_t,
                }
            )

    return trainable


@pytest.fixture(scope="module")
def moasha_run(ray_session, tmp_path_factory):
    from ray import tune

    from dppnas.tuning.archive_callback import ParetoArchiveCallback

    storage = tmp_path_factory.mktemp("moasha")
    objectives = [
        Objective(metric="accuracy", mode="max", ref=0.0),
        Objective(metric="latency/cpu", mode="min", ref=20.0),
    ]
    scheduler = MOASHA(
        metric=["accuracy", "latency/cpu"],
        mode=["max", "min"],
        max_t=MAX_T,
        grace_period=1,
        reduction_factor=2,
    )
    tuner = tune.Tuner(
        _make_trainable(MAX_T),
        param_space={"i": tune.grid_search(list(range(TRIALS)))},
        tune_config=tune.TuneConfig(
            scheduler=scheduler, max_concurrent_trials=2, reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name="moasha",
            storage_path=str(storage),
            verbose=0,
            callbacks=[ParetoArchiveCallback(objectives, plot_every=2)],  # path: Tune's folder
        ),
    )
    results = tuner.fit()
    return results, storage / "moasha"


def test_moasha_stops_trials_and_the_archive_keeps_every_trial(moasha_run):
    results, run_dir = moasha_run
    assert not results.errors
    iterations = {r.metrics["trial_id"]: r.metrics["training_iteration"] for r in results}
    assert len(iterations) == TRIALS
    stopped = {t for t, it in iterations.items() if it < MAX_T}
    assert stopped, "MOASHA stopped no trial early"

    archive = ParetoArchive.load(run_dir / "pareto.json")
    assert {e.trial_id for e in archive.entries} | {e.trial_id for e in archive.partial} == set(
        iterations
    )
    assert {e.trial_id for e in archive.partial} == stopped  # final is false for them
    assert all(e.final for e in archive.entries) and not any(e.final for e in archive.partial)
    assert archive.front() and archive.hypervolume() > 0
    assert archive.front()[0].config == {"i": 0}  # the best trial always runs to the end
    rows = (run_dir / "pareto.csv").read_text().splitlines()
    assert len(rows) == TRIALS + 1
    assert (run_dir / "pareto.png").stat().st_size > 1000
    assert list((run_dir / "search").glob("events.out.tfevents.*"))
    assert json.loads((run_dir / "pareto.json").read_text())["hypervolume"] == pytest.approx(
        archive.hypervolume()
    )


def test_a_time_attr_no_result_has_is_refused_in_config_and_warned_once_in_code(caplog):
    options = SCHEDULERS.get("moasha").options
    with pytest.raises(ConfigError, match="scheduler.time_attr"):
        validate_section(options, {"time_attr": "no_such_attr"}, "scheduler")
    s = _moasha(time_attr="no_such_attr")  # a Tune user's own: never stops, and says so once
    for trial in "ABCD":
        assert _report(s, trial, 1, 0.9, 1.0) == C
    warnings = [r for r in caplog.records if "no_such_attr" in r.getMessage()]
    assert len(warnings) == 1 and "never stop a trial" in warnings[0].getMessage()
