"""One real Ray Tune search (digits, real training): every trial reports the contract metrics."""

from __future__ import annotations

import io
import json
import os

import pytest
import torch
import yaml

from dppnas.config import TrainOptions, load_experiment
from dppnas.data import load_dataset
from dppnas.search import run_search
from dppnas.spaces import make_space
from dppnas.train import CONFIG_FILE, MODEL_FILE, Trainer

EPOCHS = 2
TRIALS = 4


@pytest.fixture(scope="module")
def finished_run(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    experiment = {
        "name": "contract",
        "seed": 1,
        "dataset": {"name": "digits", "val_fraction": 0.2},
        "space": {"name": "dpp", "max_depth": 2, "cells_per_stage": [1, 1], "growth": [8, 8]},
        "objectives": [
            {"metric": "accuracy", "mode": "max", "ref": 0.0},
            {"metric": "latency/local-cpu", "mode": "min", "ref": 10.0},
            {"metric": "params", "mode": "min", "ref": 100000},
        ],
        "devices": {"local-cpu": {"kind": "measured", "threads": 1, "time_cap_s": 0.1}},
        "train": {"epochs": EPOCHS, "batch_size": 128, "lr": 0.1},
        "num_samples": TRIALS,
        "max_concurrent": 2,
        "storage_path": str(storage),
    }
    path = storage / "contract.yaml"
    path.write_text(yaml.safe_dump(experiment))
    exp = load_experiment(path)
    out = io.StringIO()
    code = run_search(exp, stream=out)
    return exp, storage / "contract", out.getvalue(), code


def _trial_dirs(run_dir):
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and (p / "result.json").exists())


def test_search_finishes_and_prints_front(finished_run):
    exp, run_dir, output, code = finished_run
    assert code == 0, output
    assert f"{TRIALS} trials finished, 0 errored" in output
    assert "Pareto front" in output and "latency/local-cpu" in output
    assert f"trials {TRIALS}/{TRIALS} done" in output  # the compact progress line


def test_every_trial_reports_the_contract_metrics_each_epoch(finished_run):
    exp, run_dir, _, _ = finished_run
    trials = _trial_dirs(run_dir)
    assert len(trials) == TRIALS
    for trial in trials:
        reports = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [r["training_iteration"] for r in reports] == list(range(1, EPOCHS + 1))
        for r in reports:
            assert 0.0 <= r["accuracy"] <= 1.0
            assert isinstance(r["params"], int) and r["params"] > 0
            assert isinstance(r["flops"], int) and r["flops"] > 0
            assert r["latency"]["local-cpu"] > 0
            assert r["epochs"] == EPOCHS
        assert [r["final"] for r in reports] == [False] * (EPOCHS - 1) + [True]
        assert "test_accuracy" in reports[-1]
        assert all("test_accuracy" not in r for r in reports[:-1])
        assert set(reports[-1]["config"]) >= {"arch", "space", "train", "data", "devices"}


def test_checkpoint_rebuilds_the_trained_model(finished_run):
    """The saved config is enough to rebuild the net; its weights give the reported accuracy."""
    exp, run_dir, _, _ = finished_run
    trial = _trial_dirs(run_dir)[0]
    last = json.loads((trial / "result.json").read_text().splitlines()[-1])
    checkpoint = max(trial.glob("checkpoint_*"))
    config = json.loads((checkpoint / CONFIG_FILE).read_text())
    data = load_dataset(config["data"])
    model = make_space(config["space"]).build(config["arch"], data.input_shape, data.num_classes)
    state = torch.load(os.path.join(checkpoint, MODEL_FILE), weights_only=True)
    model.load_state_dict(state)
    trainer = Trainer(model, data, TrainOptions.model_validate(config["train"]))
    assert trainer.evaluate("val") == pytest.approx(last["accuracy"])


def test_the_run_keeps_its_pareto_archive(finished_run):
    """Every finished trial is in pareto.json; the printed front is the archive's."""
    from dppnas.pareto import ParetoArchive

    exp, run_dir, output, _ = finished_run
    archive = ParetoArchive.load(run_dir / "pareto.json")
    assert len(archive.entries) == TRIALS and not archive.partial
    assert archive.objectives == exp.objectives
    assert f"({len(archive.front())} non-dominated, hypervolume " in output
    assert (run_dir / "pareto.csv").exists() and (run_dir / "pareto.png").exists()
    assert list((run_dir / "search").glob("events.out.tfevents.*"))


def test_a_storage_uri_keeps_the_run_and_its_archive_there(ray_session, tmp_path):
    """``storage_path`` as a URI (``s3://`` on a cluster; ``file://`` here): Tune writes the
    run there, and the archive travels with it from Tune's driver staging folder."""
    from dppnas.config import parse_experiment
    from dppnas.pareto import ParetoArchive

    exp = parse_experiment(
        {
            "name": "uri",
            "seed": 2,
            "dataset": {"name": "digits", "val_fraction": 0.2},
            "space": {"name": "dpp", "max_depth": 1, "cells_per_stage": [1], "growth": [8]},
            "searcher": {"name": "random"},
            "objectives": [
                {"metric": "accuracy", "mode": "max", "ref": 0.0},
                {"metric": "params", "mode": "min", "ref": 100000},
            ],
            "devices": {"local-cpu": {"kind": "measured", "threads": 1, "time_cap_s": 0.05}},
            "train": {"epochs": 1, "batch_size": 128, "checkpoint_every": 0},
            "num_samples": 2,
            "storage_path": f"file://{tmp_path}/remote/",
        }
    )
    assert exp.remote_storage and exp.run_location() == f"file://{tmp_path}/remote/uri"
    out = io.StringIO()
    assert run_search(exp, stream=out) == 0, out.getvalue()
    assert f"results: file://{tmp_path}/remote/uri" in out.getvalue()
    archive = ParetoArchive.load(tmp_path / "remote" / "uri" / "pareto.json")
    assert len(archive.entries) == 2
