"""Faults a search must survive: the driver SIGKILLed and resumed, trials that raise or whose
loss diverges to NaN, a kill while the Pareto archive is being written.

Every fault is real: a killed process, a learning rate that really diverges, a CUDA request on a
machine without CUDA. Nothing of the search is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

# ---- the driver SIGKILLed, then --resume ---------------------------------------------------

TRIALS = 8
BATCH = 2  # MONAS children per controller update
KILL_AFTER = 3  # completed trials before the driver is killed


def _experiment(storage: Path) -> Path:
    experiment = {
        "name": "killed",
        "seed": 3,
        "dataset": {"name": "digits", "val_fraction": 0.2},
        "space": {"name": "monas", "num_layers": 2, "filters": [8, 16], "pool_every": 1},
        "searcher": {"name": "monas", "batch_size": BATCH},
        "objectives": [
            {"metric": "accuracy", "mode": "max", "ref": 0.0},
            {"metric": "params", "mode": "min", "ref": 100000},
        ],
        "devices": {"edge": {"kind": "roofline", "spec": "cortex-a53"}},
        "train": {"epochs": 2, "batch_size": 128, "lr": 0.1, "device": "cpu"},
        "num_samples": TRIALS,
        "max_concurrent": 2,
        "storage_path": str(storage),
    }
    path = storage / "killed.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


def _dppnas(*args: str, log: Path) -> subprocess.Popen:
    """``dppnas ARGS`` in its own process group (the driver and the local Ray it starts)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dppnas", *args],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)  # the driver first: no chance to clean up
    process.wait()
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # then what is left of its local Ray


def _archive(run_dir: Path) -> dict:
    return json.loads((run_dir / "pareto.json").read_text())


def test_driver_sigkill_then_resume_loses_and_repeats_nothing(tmp_path):
    """``dppnas search`` is SIGKILLed after a few trials; ``--resume`` finishes the run with every
    trial completed once: the trials archived before the kill keep their ids and results, no
    architecture is trained again as a new trial, MONAS's controller continues its updates."""
    from ray.tune import ExperimentAnalysis

    from dppnas.config import load_experiment
    from dppnas.tuning.tuner import make_search_alg
    from search_algos import MONASSearcher

    experiment = _experiment(tmp_path)
    run_dir = tmp_path / "killed"
    first = _dppnas("search", str(experiment), log=tmp_path / "first.log")
    deadline = time.monotonic() + 240
    before: dict = {}
    while time.monotonic() < deadline and first.poll() is None:
        if (run_dir / "pareto.json").exists():
            before = _archive(run_dir)  # written atomically: always a whole file
            if len(before["entries"]) >= KILL_AFTER:
                break
        time.sleep(0.1)
    assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    _kill_group(first)
    archived = {e["trial_id"]: e for e in _archive(run_dir)["entries"]}
    assert KILL_AFTER <= len(archived) < TRIALS  # killed mid-search

    second = _dppnas("search", str(experiment), "--resume", log=tmp_path / "second.log")
    assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    output = (tmp_path / "second.log").read_text()
    assert f"{TRIALS} trials finished, 0 errored" in output

    trials = ExperimentAnalysis(str(run_dir)).trials
    assert len(trials) == TRIALS and all(t.status == "TERMINATED" for t in trials)
    final = {e["trial_id"]: e for e in _archive(run_dir)["entries"]}
    assert set(final) == {t.trial_id for t in trials}  # every trial of the run, once
    # none archived before the kill was forgotten by the restored run (it would have been
    # dropped from the archive and suggested again under a new id), none was retrained
    assert set(archived) <= set(final)
    for trial_id, entry in archived.items():
        assert final[trial_id]["config"]["arch"] == entry["config"]["arch"]
        assert final[trial_id]["metrics"]["accuracy"] == entry["metrics"]["accuracy"]
    assert len(list(run_dir.glob("experiment_state-*.json"))) == 2  # two driver sessions

    # the searcher continued: the state Tune saved last counts every trial of both sessions
    (state,) = sorted(run_dir.glob("searcher-state-*.pkl"))[-1:]
    searcher = make_search_alg(load_experiment(experiment))  # as the run built it
    assert isinstance(searcher, MONASSearcher)
    searcher.restore(str(state))
    stats = searcher.stats
    assert stats["suggested"] == stats["completed"] == TRIALS
    assert stats["errored"] == 0 and stats["pending"] == 0
    assert stats["updates"] == TRIALS // BATCH


# ---- trials that raise, trials whose loss diverges --------------------------------------------


def test_trials_that_raise_or_diverge_are_errored_and_the_search_goes_on(ray_session, tmp_path):
    """Real faults chosen through the configuration: ``train.device: cuda`` on a machine without
    CUDA raises in the trial, ``train.lr: 1e6`` makes the training loss NaN (the trainer's
    finiteness check raises). Each such trial ends errored with its message, MONAS is told
    ``error=True`` and keeps suggesting, and the archive holds the successful trials only."""
    from ray import tune

    from dppnas.config import parse_experiment
    from dppnas.data import load_dataset
    from dppnas.pareto import ParetoArchive
    from dppnas.tuning.archive_callback import ParetoArchiveCallback
    from dppnas.tuning.tuner import make_trainable, param_space, trial_dirname
    from search_algos import MONASSearcher

    class RecordingMONAS(MONASSearcher):
        completions: list[tuple[str, bool]] = []

        def on_trial_complete(self, trial_id, result=None, error=False):
            self.completions.append((trial_id, error))
            super().on_trial_complete(trial_id, result=result, error=error)

    experiment = parse_experiment(
        {
            "name": "faulty",
            "dataset": {"name": "digits"},
            "space": {"name": "monas", "num_layers": 1, "filters": [8, 16]},
            "objectives": [
                {"metric": "accuracy", "mode": "max", "ref": 0.0},
                {"metric": "params", "mode": "min", "ref": 100000},
            ],
            "devices": {"edge": {"kind": "roofline", "spec": "cortex-a53"}},
            "train": {"epochs": 1, "batch_size": 128},
            "storage_path": str(tmp_path),
        }
    )
    space = param_space(experiment)
    space["train"] = {
        **space["train"],
        "lr": tune.choice([0.1, 1e6]),  # 1e6 diverges: the loss becomes NaN in epoch 1
        "device": tune.choice(["cpu", "cuda"]),  # no CUDA here: the trial raises
    }
    # batch_size > trials: the controller never updates, so the seeded policy alone picks
    # the configs; seed 2 gives ok, nan, cuda, ok, nan, cuda (checked below)
    searcher = RecordingMONAS(
        ["accuracy", "params"], ["max", "min"], ref=[0.0, 1e5], batch_size=100, seed=2
    )
    tuner = tune.Tuner(
        make_trainable(experiment, load_dataset(experiment.dataset)),
        param_space=space,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            num_samples=6,
            max_concurrent_trials=2,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,  # trial_<id>
        ),
        run_config=tune.RunConfig(
            name="faulty",
            storage_path=str(tmp_path),
            callbacks=[ParetoArchiveCallback(experiment.objectives, path=tmp_path / "faulty")],
            verbose=0,
        ),
    )
    results = list(tuner.fit())

    def kind(config: dict) -> str:
        train = config["train"]
        return "cuda" if train["device"] == "cuda" else "nan" if train["lr"] > 1 else "ok"

    assert sorted(kind(r.config) for r in results) == ["cuda", "cuda", "nan", "nan", "ok", "ok"]
    for result in results:
        expected = kind(result.config)
        if expected == "ok":
            assert result.error is None and result.metrics["final"]
        else:
            message = {
                "cuda": "train.device: cuda requested but no CUDA device is visible",
                "nan": "training loss became nan in epoch 1",
            }[expected]
            assert result.error is not None and message in str(result.error)

    told = dict(searcher.completions)
    errored = {Path(r.path).name.removeprefix("trial_") for r in results if r.error is not None}
    assert len(told) == 6 and {t for t, error in told.items() if error} == errored
    order = [error for _, error in searcher.completions]
    assert False in order[order.index(True) :]  # a trial succeeded after one had errored
    assert searcher.stats["errored"] == 4 and searcher.stats["suggested"] == 6

    archive = ParetoArchive.load(tmp_path / "faulty" / "pareto.json")
    assert {e.trial_id for e in archive.entries} == set(told) - errored
    assert not archive.partial


# ---- a kill while the archive is written ------------------------------------------------------

WRITER = """
import sys
from dppnas.pareto import Objective, ParetoArchive

objectives = [Objective(metric="accuracy", mode="max", ref=0.0),
              Objective(metric="latency/cpu", mode="min", ref=200.0)]
archive = ParetoArchive(objectives, path=sys.argv[1])  # continues the file left by a kill
for i in range(len(archive), 10**6):
    metrics = {"accuracy": (i * 7919 % 1000) / 1000, "latency/cpu": 1 + (i * 104729 % 997) / 10}
    archive.add(f"t{i:05d}", {"arch": {"i": i, "padding": "x" * 4000}}, metrics)  # rewrites it
    print(i, flush=True)  # entries 0..i are saved
"""


def test_the_archive_file_survives_kills_in_the_middle_of_writes(tmp_path):
    """A process adding trials to a ParetoArchive (each add rewrites pareto.json) is SIGKILLed at
    random moments, 10 times, each time restarted on the file it left: the file always parses,
    holds the version before or after the write in progress, and its stored front and
    hypervolume are those of its entries."""
    from dppnas.pareto import ParetoArchive

    path = tmp_path / "pareto.json"
    rng = random.Random(0)
    for _ in range(10):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        saved = int(writer.stdout.readline())  # the first write is done: it is up and running
        time.sleep(rng.uniform(0.0, 0.3))
        writer.kill()
        saved = max([saved, *(int(line) for line in writer.stdout.read().split())])
        writer.wait()

        data = json.loads(path.read_text())  # never half a file
        archive = ParetoArchive.load(path)
        ids = [e.trial_id for e in archive.entries]
        assert ids == [f"t{i:05d}" for i in range(len(ids))]
        assert len(ids) in (saved + 1, saved + 2)  # the last confirmed write, or the next one
        assert sorted(data["front"]) == sorted(e.trial_id for e in archive.front())
        assert data["hypervolume"] == pytest.approx(archive.hypervolume())
    # the kills did land in the middle of writes: each left its temporary file behind
    assert list(tmp_path.glob(".pareto.json.*.tmp"))


# ---- a checkpoint Tune deleted after the run's last snapshot ----------------------------------


def test_resume_brings_back_a_checkpoint_deleted_after_the_last_snapshot(ray_session, tmp_path):
    """Tune deletes a trial's previous checkpoint as soon as it registers the next one; a driver
    killed before the snapshot naming the next one reaches the run folder leaves a snapshot that
    names a deleted checkpoint. On --resume that checkpoint is brought back as a copy of the
    trial's newest one, so the trial continues instead of failing ("does not exist on storage
    anymore"). The snapshot here is a real one of Tune, set back to that moment."""
    from ray import tune

    from dppnas.tuning.snapshots import fill_deleted_checkpoints
    from dppnas.tuning.tuner import trial_dirname

    def two_checkpoints(config: dict) -> None:
        import tempfile

        for epoch in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                Path(folder, "state.json").write_text(json.dumps({"epoch": epoch}))
                tune.report({"epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(folder))

    tune.Tuner(
        two_checkpoints,
        tune_config=tune.TuneConfig(num_samples=2, trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name="run",
            storage_path=str(tmp_path),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=0,
        ),
    ).fit()
    run = tmp_path / "run"
    (state_file,) = run.glob("experiment_state-*.json")
    state = json.loads(state_file.read_text())
    trial_state, metadata = state["trial_data"][0]
    trial, meta = json.loads(trial_state), json.loads(metadata)
    folder = run / f"trial_{trial['trial_id']}"
    assert [p.name for p in folder.glob("checkpoint_*")] == ["checkpoint_000001"]
    assert meta["last_result"]["checkpoint_dir_name"] == "checkpoint_000001"
    # the snapshot as it was after the first report: running, naming checkpoint_000000
    trial["status"] = "RUNNING"
    meta["last_result"]["checkpoint_dir_name"] = "checkpoint_000000"
    state["trial_data"][0] = [json.dumps(trial), json.dumps(meta)]
    state_file.write_text(json.dumps(state))

    assert fill_deleted_checkpoints(run) == [folder / "checkpoint_000000"]
    restored = json.loads((folder / "checkpoint_000000" / "state.json").read_text())
    assert restored == {"epoch": 2}  # the newest state of the same trial
    assert fill_deleted_checkpoints(run) == []  # nothing else is touched


def test_resume_refuses_a_snapshot_cut_short(tmp_path):
    """Tune copies its snapshot into the run folder file by file; from an incomplete one it
    would silently start the experiment over. --resume stops with one clear line instead."""
    from dppnas.errors import DppnasError
    from dppnas.tuning.snapshots import check_last_snapshot

    whole = json.dumps({"trial_data": [], "runner_data": {}, "stats": {}})
    (tmp_path / "experiment_state-2026-11-24_10-00-00.json").write_text(whole)
    torn = tmp_path / "experiment_state-2026-11-24_11-00-00.json"
    torn.write_text(whole[: len(whole) // 2])
    with pytest.raises(DppnasError, match=r"is incomplete .*\*-2026-11-24_11-00-00\.json"):
        check_last_snapshot(tmp_path)
    torn.rename(tmp_path / "aside.json")
    check_last_snapshot(tmp_path)  # the snapshot before it is whole


def test_resume_repairs_a_searcher_state_cut_short_from_the_driver_copy(tmp_path):
    """A driver killed while Tune copied its snapshot into the run folder leaves the searcher's
    state cut short there (seen: an empty MONAS state, and Tune then resumed without its
    searcher); the stopped driver's staging folder still holds the whole file."""
    import torch

    from dppnas.errors import DppnasError
    from dppnas.tuning.snapshots import check_last_snapshot, repair_snapshot_files

    run = tmp_path / "runs" / "killed"
    run.mkdir(parents=True)
    stamp = "2026-11-24_04-48-04"
    state = {"controller": torch.zeros(3), "updates": 4}
    name = f"searcher-state-{stamp}.pkl"
    (run / name).write_bytes(b"")  # cut short by the kill
    staging = tmp_path / "ray" / "session_x" / "artifacts" / stamp / "killed" / "driver_artifacts"
    staging.mkdir(parents=True)
    torch.save(state, staging / name)  # the driver's whole copy

    with pytest.raises(DppnasError, match=rf"{name} is incomplete"):
        check_last_snapshot(run)
    assert repair_snapshot_files(run, [tmp_path / "elsewhere"]) == []  # no copy: left as is
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == [run / name]
    assert torch.load(run / name, weights_only=True)["updates"] == 4
    check_last_snapshot(run)
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == []  # whole files are left alone


def _snapshot(folder: Path, stamp: str, trials: dict[str, str], searcher: dict) -> list[Path]:
    """A snapshot's four files as Tune writes them into its staging folder, in its order:
    the experiment state (trial ids and statuses), MONAS's state, the search generator's
    counter, the callbacks' state; increasing modification times."""
    trial_data = [
        [json.dumps({"trial_id": t, "status": s}), json.dumps({})] for t, s in trials.items()
    ]
    files = [
        (f"experiment_state-{stamp}.json", json.dumps({"trial_data": trial_data}).encode()),
        (f"searcher-state-{stamp}.pkl", pickle.dumps({"format": 1, "state": searcher})),
        (f"search_gen_state-{stamp}.json", pickle.dumps({"counter": len(trials)})),
        (f"callback-states-{stamp}.pkl", pickle.dumps({"archived": len(trials)})),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files:
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    _in_order(paths, start=time.time_ns())
    return paths


def _in_order(paths: list[Path], start: int) -> None:
    for i, path in enumerate(paths):
        os.utime(path, ns=(start + i * 1000, start + i * 1000))


def test_resume_takes_the_drivers_last_snapshot_whole_not_a_mix_of_two(tmp_path):
    """Tune copies its staged snapshot into the run folder in the background, files in
    parallel; a driver killed during the copy leaves a mix of two snapshots, all whole (seen
    with a real kill: the newer search generator beside the older experiment and searcher
    states; the resumed run then made 7 trials of 8, and MONAS counted 7 suggested, 6
    completed, one pending for ever). --resume restores the driver's staged snapshot when its
    files are one save's, and only then: a driver killed while writing a snapshot left its
    staging folder a mix (newer experiment state, older searcher state), and the run
    folder's own snapshot is kept."""
    from dppnas.tuning.snapshots import check_last_snapshot, repair_snapshot_files

    stamp = "2026-11-24_04-48-04"
    run = tmp_path / "runs" / "killed"
    staging = tmp_path / "ray" / "session_x" / "artifacts" / stamp / "killed" / "driver_artifacts"
    before = {"a": "TERMINATED", "b": "TERMINATED", "c": "RUNNING", "d": "RUNNING"}
    after = {**before, "c": "TERMINATED", "e": "PENDING"}  # c finished, e suggested
    old = _snapshot(run, stamp, before, {"pending": ["c", "d"], "suggested": 4})
    old_bytes = [p.read_bytes() for p in old]
    new = _snapshot(staging, stamp, after, {"pending": ["d", "e"], "suggested": 5})
    # the copy of the newer snapshot stopped after the search generator's state
    (run / new[2].name).write_bytes(new[2].read_bytes())
    check_last_snapshot(run)  # every file is whole: only their mix is wrong

    assert repair_snapshot_files(run, [tmp_path / "elsewhere"]) == []  # no staged copy
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == [old[0], old[1], old[3]]
    assert [(run / p.name).read_bytes() for p in new] == [p.read_bytes() for p in new]
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == []  # nothing else to do

    # the driver was killed while writing the next snapshot: the staged experiment state is
    # newer than the staged searcher state; the run folder's snapshot is left as it is
    for path, data in zip(old, old_bytes, strict=True):
        path.write_bytes(data)
    later = {**after, "d": "TERMINATED", "f": "PENDING"}
    _snapshot(staging / "next", stamp, later, {})
    (staging / "next" / new[0].name).replace(new[0])  # only its experiment state was written
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == []
    _in_order(new, start=time.time_ns())  # were its files one save's, they would be taken...
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == old
    # ...when they name every trial of the run folder's: not another run's of the same name
    _snapshot(run, stamp, {**before, "g": "PENDING"}, {"pending": ["c", "d", "g"]})
    assert repair_snapshot_files(run, [tmp_path / "ray"]) == []
