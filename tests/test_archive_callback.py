"""ParetoArchiveCallback driven by stand-in trials (no Ray cluster): files, TensorBoard, safety.

The real Tune run with this callback is in tests/test_moasha.py.
"""

from __future__ import annotations

import logging
import pickle
from types import SimpleNamespace

import pytest

from dppnas.pareto import Objective, ParetoArchive
from dppnas.tuning.archive_callback import ParetoArchiveCallback

OBJECTIVES = [
    {"metric": "accuracy", "mode": "max", "ref": 0.0},
    {"metric": "latency/cpu", "mode": "min", "ref": 10.0},
]


def _trial(trial_id, accuracy, latency, final=True, it=3):
    result = {
        "accuracy": accuracy,
        "latency": {"cpu": latency},  # trial.last_result is nested
        "training_iteration": it,
        "config": {"arch": [1, 2]},  # Tune copies the config into results; not kept as metrics
    }
    if final is not None:
        result["final"] = final
    return SimpleNamespace(trial_id=trial_id, config={"arch": [1, 2]}, last_result=result)


def _complete(callback, trial):
    callback.on_trial_complete(iteration=0, trials=[], trial=trial)


def _scalars(tb_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_files_scalars_and_plot(tmp_path):
    callback = ParetoArchiveCallback(OBJECTIVES, path=tmp_path, plot_every=2)
    callback.setup()
    _complete(callback, _trial("a", 0.5, 5.0))
    _complete(callback, _trial("b", 0.6, 6.0))
    _complete(callback, _trial("c", 0.4, 7.0))  # dominated
    _complete(callback, _trial("s", 0.9, 1.0, final=False, it=1))  # stopped early
    _complete(callback, _trial("n", 0.7, 8.0, final=None))  # no `final` key: ran to the end
    callback.on_trial_error(iteration=0, trials=[], trial=_trial("e", 1.0, 0.1))
    callback.on_experiment_end(trials=[])

    archive = ParetoArchive.load(tmp_path / "pareto.json")
    assert [e.trial_id for e in archive.front()] == ["n", "b", "a"]
    assert [e.trial_id for e in archive.partial] == ["s"]
    assert "e" not in archive
    assert "config/arch" not in archive.entries[0].metrics
    assert archive.entries[0].metrics["latency/cpu"] == 5.0
    assert archive.entries[0].config == {"arch": [1, 2]}
    assert len((tmp_path / "pareto.csv").read_text().splitlines()) == 6
    assert (tmp_path / "pareto.png").stat().st_size > 1000

    events = _scalars(tmp_path / "search")
    tags = events.Tags()
    assert {"search/hypervolume", "search/front_size", "search/trials_completed"} <= set(
        tags["scalars"]
    )
    hv = events.Scalars("search/hypervolume")
    assert [e.step for e in hv] == [1, 2, 3, 4, 5]
    assert hv[-1].value == pytest.approx(archive.hypervolume())
    assert [e.value for e in events.Scalars("search/front_size")] == [1, 2, 2, 2, 3]
    assert len(events.Images("search/front")) == 3  # after 2 and 4 trials, and at the end


def test_pickles_without_writers_and_reloads_on_resume(tmp_path):
    callback = ParetoArchiveCallback(OBJECTIVES, path=tmp_path)
    callback.setup()
    _complete(callback, _trial("a", 0.5, 5.0))
    assert callback._writer is not None
    restored = pickle.loads(pickle.dumps(callback))  # what Tune stores for Tuner.restore
    assert restored.archive is None and restored._writer is None
    restored.setup()
    assert [e.trial_id for e in restored.archive.entries] == ["a"]
    _complete(restored, _trial("b", 0.6, 4.0))
    assert [e.trial_id for e in ParetoArchive.load(tmp_path / "pareto.json").front()] == ["b"]
    restored.on_experiment_end(trials=[])
    callback.on_experiment_end(trials=[])


def test_path_defaults_to_the_trials_experiment_folder(tmp_path):
    storage = SimpleNamespace(
        storage_filesystem=SimpleNamespace(type_name="local"), experiment_fs_path=str(tmp_path)
    )
    trial = _trial("a", 0.5, 5.0)
    trial.storage = storage
    callback = ParetoArchiveCallback([Objective.model_validate(o) for o in OBJECTIVES])
    _complete(callback, trial)
    callback.on_experiment_end(trials=[trial])
    assert (tmp_path / "pareto.json").exists() and (tmp_path / "pareto.png").exists()


def test_never_raises_into_tune(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    callback = ParetoArchiveCallback(OBJECTIVES, path=blocker / "run")
    with caplog.at_level(logging.ERROR):
        callback.setup()
        _complete(callback, _trial("a", 0.5, 5.0))  # cannot write there
        callback.on_trial_complete(iteration=0, trials=[], trial=object())  # not a trial
        callback.on_experiment_end(trials=[object()])
    assert "Pareto archive" in caplog.text


def test_a_resumed_run_drops_unknown_trials_and_the_staged_copy(tmp_path):
    """On Tuner.restore: archived trials the restored run does not know (completed after Tune's
    last snapshot; they will be suggested again) leave the archive, and the copy of pareto.json
    Tune staged at restore time is removed before Tune can upload it over the archive."""
    run, staging = tmp_path / "run", tmp_path / "staging"
    callback = ParetoArchiveCallback(OBJECTIVES, path=run)
    callback.setup()
    for trial in (_trial("a", 0.5, 5.0), _trial("b", 0.6, 6.0), _trial("late", 0.9, 1.0)):
        _complete(callback, trial)
    state = callback.get_state()  # what Tune saved with its last snapshot
    staging.mkdir()
    (staging / "pareto.json").write_text((run / "pareto.json").read_text())  # Tune's copy

    restored = pickle.loads(pickle.dumps(callback))
    restored.set_state(state)
    restored.setup()
    known = [_trial(t, 0.5, 5.0) for t in ("a", "b", "c")]  # "late" is unknown, "c" pending
    for trial in known:
        trial.storage = SimpleNamespace(experiment_driver_staging_path=str(staging))
    restored.on_step_begin(iteration=0, trials=known)
    assert not (staging / "pareto.json").exists()
    archive = ParetoArchive.load(run / "pareto.json")
    assert [e.trial_id for e in archive.entries] == ["a", "b"]
    rows = (run / "pareto.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["a", "b"]
    _complete(restored, _trial("c", 0.7, 7.0))
    assert [e.trial_id for e in ParetoArchive.load(run / "pareto.json").entries] == ["a", "b", "c"]

    fresh = ParetoArchiveCallback(OBJECTIVES, path=run)  # a new run reusing the folder: kept
    fresh.setup()
    fresh.on_step_begin(iteration=0, trials=known[:1])
    assert len(ParetoArchive.load(run / "pareto.json").entries) == 3
    for c in (callback, restored, fresh):
        c.on_experiment_end(trials=[])


def test_hparams_of_a_flat_param_space_and_of_a_dppnas_config():
    from dppnas.tuning.archive_callback import hyperparameters

    flat = {"lr": 0.1, "optimizer": {"name": "sgd"}, "widths": [8, 16], "act": "relu"}
    assert hyperparameters(flat) == {"lr": 0.1, "optimizer/name": "sgd", "act": "relu"}
    ours = {"arch": {"d0": 3, "d1": "conv"}, "train": {"lr": 0.1}, "seed": 0}
    assert hyperparameters(ours) == {"arch/d0": 3, "arch/d1": "conv"}
