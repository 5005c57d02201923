"""What ``dppnas search`` checks before it starts, how it ends on Ctrl-C, and what it refuses
to load: unreachable clusters, resources no node has, tables of another input size, changed
experiments on ``--resume``, interrupted trials, snapshot files planted by others."""

from __future__ import annotations

import io
import os
import pickle
import signal
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from dppnas.config import load_experiment, parse_experiment
from dppnas.errors import DppnasError
from dppnas.pareto import Objective, ParetoArchive
from dppnas.search import (
    EXIT_INTERRUPTED,
    check_address,
    check_devices,
    check_resources,
    check_resumable,
    run_search,
    save_experiment_record,
)

EXPERIMENT = {
    "name": "guarded",
    "dataset": {"name": "digits"},
    "space": {"name": "dpp", "max_depth": 1, "cells_per_stage": [1], "growth": [4]},
    "searcher": {"name": "random"},
    "objectives": [
        {"metric": "accuracy", "mode": "max", "ref": 0.0},
        {"metric": "params", "mode": "min", "ref": 100000},
    ],
    "devices": {"r": {"kind": "roofline", "spec": "cortex-a53"}},
    "train": {"epochs": 1, "checkpoint_every": 0},
    "num_samples": 2,
}


def _experiment(**changes):
    return parse_experiment({**EXPERIMENT, **changes})


def test_an_address_where_nothing_listens_fails_within_the_timeout():
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(DppnasError, match=rf"--address 127.0.0.1:{port}: nothing answers"):
        check_address(f"127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - start < 5
    with pytest.raises(DppnasError, match="expected 'auto' or HOST:PORT"):
        check_address("no-port-here")
    check_address("auto")  # left to Ray, which fails at once when no cluster runs


def test_resources_no_node_has_are_refused_at_start(ray_session):
    out = io.StringIO()
    check_resources(_experiment(), joined=False, stream=out)  # 1 CPU: fine
    for resources in ({"cpu": 64}, {"cpu": 1, "gpu": 1}):
        with pytest.raises(DppnasError, match="no node of the Ray cluster has that much"):
            check_resources(_experiment(resources=resources), joined=False, stream=out)
    # a joined cluster may autoscale: a warning line, no error
    check_resources(_experiment(resources={"cpu": 64}), joined=True, stream=out)
    assert out.getvalue().startswith("warning: resources: a trial asks for 64 CPU")


def test_a_latency_table_of_another_input_size_is_refused_before_any_trial(tmp_path, quick_table):
    path = tmp_path / "t.lut.json"
    quick_table(EXPERIMENT["space"], (1, 28, 28), path)
    experiment = _experiment(devices={"t": {"kind": "lut", "path": str(path)}})
    check_devices(experiment, (1, 28, 28))
    with pytest.raises(DppnasError, match=r"devices.t: .* profiled at input 1x28x28"):
        check_devices(experiment, (1, 8, 8))  # digits


def test_resume_refuses_a_changed_experiment(tmp_path):
    experiment = _experiment()
    save_experiment_record(experiment, tmp_path)
    check_resumable(experiment, tmp_path)
    check_resumable(_experiment(storage_path="elsewhere"), tmp_path)  # moved: still the run
    with pytest.raises(DppnasError, match=r"num_samples: 2 -> 5"):
        check_resumable(_experiment(num_samples=5), tmp_path)
    with pytest.raises(DppnasError, match=r"train.epochs: 1 -> 2"):
        check_resumable(_experiment(train={"epochs": 2, "checkpoint_every": 0}), tmp_path)
    check_resumable(_experiment(num_samples=5), tmp_path / "older-run")  # no record: resumed


def test_an_interrupted_trial_is_not_archived_and_a_missing_final_is_not_final():
    from dppnas.tuning.front import add_missing_results

    objectives = [Objective(metric="accuracy", mode="max", ref=0.0)]

    def result(trial_id, **metrics):
        return SimpleNamespace(
            error=None, path=f"/r/{trial_id}", config={}, metrics={"trial_id": trial_id, **metrics}
        )

    archive = add_missing_results(
        ParetoArchive(objectives),
        [
            result("done", accuracy=0.9, final=True, done=True),
            result("stopped", accuracy=0.5, final=False, done=True),
            result("no-final", accuracy=0.7, done=True),
            result("interrupted", accuracy=0.8, final=False, done=False),
        ],
    )
    assert [e.trial_id for e in archive.entries] == ["done"]
    assert sorted(e.trial_id for e in archive.partial) == ["no-final", "stopped"]


def _interrupting_trainable(driver_pid: int):
    def trainable(config):
        from ray import tune

        for epoch in range(1, 200):
            if epoch == 2:
                os.kill(driver_pid, signal.SIGINT)  # Ctrl-C in the driver's terminal
            time.sleep(0.05)
            tune.report({"accuracy": 0.5, "params": 10, "epochs": 199, "final": epoch == 199})

    return trainable


def test_ctrl_c_exits_130_and_counts_the_interrupted_trial_as_unfinished(ray_session, tmp_path):
    experiment = _experiment(storage_path=str(tmp_path), num_samples=1)
    out = io.StringIO()
    code = run_search(experiment, stream=out, trainable=_interrupting_trainable(os.getpid()))
    text = out.getvalue()
    assert code == EXIT_INTERRUPTED, text
    assert "0 trials finished" in text and "1 interrupted" in text
    assert "--resume --name guarded" in text


def test_a_changed_experiment_is_refused_on_resume_by_the_command(tmp_path, capsys):
    from dppnas.cli import main

    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({**EXPERIMENT, "storage_path": str(tmp_path / "runs")}))
    save_experiment_record(load_experiment(path), tmp_path / "runs" / "guarded")
    assert main(["search", str(path), "--resume", "--num-samples", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "num_samples: 2 -> 9" in err


# ---- loading what others may have written ----------------------------------------------------


class _Planted:
    """A pickle that, when loaded, creates a file: what a hostile snapshot file could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_snapshot_completeness_is_checked_without_unpickling(tmp_path):
    from dppnas.tuning.snapshots import _whole

    marker = tmp_path / "code-ran"
    planted = tmp_path / "searcher-state-x.pkl"
    planted.write_bytes(pickle.dumps(_Planted(marker)))
    assert _whole(planted) and not marker.exists()
    planted.write_bytes(planted.read_bytes()[:-3])  # cut short
    assert not _whole(planted)
    saved = tmp_path / "state.pt"
    torch.save({"x": torch.zeros(3)}, saved)
    assert _whole(saved)
    saved.write_bytes(saved.read_bytes()[:-40])
    assert not _whole(saved)


def test_staged_snapshot_copies_must_be_the_users_own(tmp_path):
    from dppnas.tuning.snapshots import repair_snapshot_files

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    name = "searcher-state-2026-01-01_00-00-00.pkl"
    (run / name).write_bytes(b"")  # cut short
    staging = tmp_path / "ray" / "session_x" / "artifacts" / "s" / "r" / "driver_artifacts"
    staging.mkdir(parents=True)
    elsewhere = tmp_path / "whole.pkl"
    elsewhere.write_bytes(pickle.dumps({"whole": True}))
    (staging / name).symlink_to(elsewhere)  # a link planted in the shared folder
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == []
    if os.getuid() == 0:  # only root can give a file to another user
        (staging / name).unlink()
        (staging / name).write_bytes(elsewhere.read_bytes())
        os.chown(staging / name, 12345, 12345)
        assert repair_snapshot_files(run, [tmp_path / "ray"]) == []
        os.chown(staging / name, 0, 0)
    else:
        (staging / name).unlink()
        (staging / name).write_bytes(elsewhere.read_bytes())
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == [run / name]


def test_trainer_state_loads_with_weights_only():
    from dppnas.config import TrainOptions
    from dppnas.data import load_dataset
    from dppnas.spaces import make_space
    from dppnas.train import Trainer

    data = load_dataset({"name": "digits"})
    space = make_space(EXPERIMENT["space"])
    arch = {d.name: d.choices[0] for d in space.decisions}
    for optimizer in ("sgd", "adam"):
        model = space.build(arch, data.input_shape, data.num_classes)
        trainer = Trainer(model, data, TrainOptions(epochs=2, optimizer=optimizer))
        trainer.train_epoch()
        buffer = io.BytesIO()
        torch.save(trainer.state_dict(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)  # no code runs on load
        again = Trainer(model, data, TrainOptions(epochs=2, optimizer=optimizer))
        again.load_state_dict(state)
        assert again.epoch == 1 and again.step == trainer.step
