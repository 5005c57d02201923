"""Experiment files: the shipped ones validate; malformed ones are refused with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dppnas.cli import main
from dppnas.config import load_experiment

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))

VALID = {
    "name": "t",
    "dataset": {"name": "digits"},
    "space": {"name": "dpp", "max_depth": 2, "cells_per_stage": [1], "growth": [8]},
    "objectives": [
        {"metric": "accuracy", "mode": "max", "ref": 0.0},
        {"metric": "latency/local-cpu", "mode": "min", "ref": 5.0},
    ],
}


def _with(**changes):
    data = yaml.safe_load(yaml.safe_dump(VALID))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[leaf]
        elif isinstance(node, list):
            node[int(leaf)] = value
        else:
            node[leaf] = value
    return data


_DELETE = object()


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_experiments_validate(path):
    experiment = load_experiment(path)
    assert experiment.search_space.size() > 1
    assert len(experiment.objectives) >= 2


def test_valid_minimal_experiment_has_documented_defaults(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(VALID))
    exp = load_experiment(path)
    assert exp.searcher.name == "random" and exp.scheduler.name == "fifo"
    assert exp.devices == {"local-cpu": {"kind": "measured"}}
    assert exp.train.epochs == 3 and exp.num_samples == 16


MALFORMED = [
    # (experiment data or raw text, the specific message expected)
    ("name: [unclosed\n", "not valid YAML at line"),
    ("", "the file is empty"),
    ("- just\n- a list\n", "an experiment must be a mapping"),
    (_with(colour="blue"), "colour: unknown key (allowed keys:"),
    (_with(name=_DELETE), "name: required key is missing"),
    (_with(name="my run/1"), "name: 'my run/1' is not usable as a folder name"),
    (_with(num_samples=0), "num_samples: Input should be greater than 0"),
    (_with(num_samples="many"), "num_samples: Input should be a valid integer"),
    (
        _with(dataset__name="mnist"),
        "dataset.name: unknown dataset 'mnist'; available: cifar10, digits",
    ),
    (_with(space__name="resnet"), "space.name: unknown search space 'resnet'; available:"),
    (_with(space__growth=[8, 16]), "space."),
    (_with(space__convs=["conv9x9"]), "space.convs"),
    (_with(space__max_depth="deep"), "space.max_depth: Input should be a valid integer"),
    (_with(searcher={"name": "grid"}), "searcher.name: unknown searcher 'grid'; available:"),
    (_with(searcher={"name": "random", "population": 4}), "searcher.population: unknown key"),
    (_with(scheduler={"name": "hyperband"}), "scheduler.name: unknown scheduler 'hyperband'"),
    (_with(objectives=[]), "objectives: List should have at least 1 item"),
    (_with(objectives__1__ref=_DELETE), "objectives.1.ref: required key is missing"),
    (_with(objectives__0__mode="up"), "objectives.0.mode: Input should be 'min' or 'max'"),
    (
        _with(objectives__0__mode="min"),
        "objectives.0.mode: accuracy is to be maximised; use mode: max",
    ),
    (_with(objectives__0__ref=50), "objectives.0.ref: accuracy is a fraction in [0, 1]"),
    (
        _with(objectives__1__metric="latency/jetson"),
        "names device 'jetson', which is not in `devices`",
    ),
    (
        _with(objectives__1__metric="acc"),
        "objectives.1.metric: unknown metric 'acc'; available: accuracy",
    ),
    (_with(objectives__1__metric="accuracy"), "objectives.1.metric: 'accuracy' is listed twice"),
    (_with(objectives__1__ref=-1.0), "objectives.1.ref: latency/local-cpu is a positive cost"),
    (
        _with(devices={"local-cpu": {"kind": "quantum"}}),
        "devices.local-cpu.kind: unknown device kind 'quantum'",
    ),
    (
        _with(devices={"local-cpu": {"threads": 2}}),
        "devices.local-cpu.kind: required key is missing",
    ),
    (
        _with(devices={"local-cpu": {"kind": "measured", "threads": 0}}),
        "devices.local-cpu.threads: Input should be greater than or equal to 1",
    ),
    (_with(train={"epochs": 2, "optimiser": "sgd"}), "train.optimiser: unknown key (allowed keys:"),
    (_with(train={"optimizer": "rmsprop"}), "train.optimizer: Input should be 'sgd' or 'adam'"),
    (_with(train={"lr": -0.1}), "train.lr: Input should be greater than 0"),
    (_with(resources={"cpu": 0}), "resources.cpu: Input should be greater than 0"),
    (_with(dataset={"name": "npz"}), "dataset.path: required for the npz dataset"),
]


@pytest.mark.parametrize(("data", "expected"), MALFORMED, ids=[m[1][:40] for m in MALFORMED])
def test_malformed_experiment_is_refused_with_its_message(tmp_path, capsys, data, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    code = main(["search", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"dppnas: error: {path}: ")
    assert expected in err, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_energy_of_a_device_without_energy_says_why(tmp_path, capsys):
    from dppnas.devices import make_device

    if make_device("local-cpu", {"kind": "measured"}).provides_energy:
        pytest.skip("this machine exposes an energy counter (RAPL/NVML)")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(objectives__1__metric="energy/local-cpu")))
    assert main(["search", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        "objectives.1.metric: 'energy/local-cpu': device 'local-cpu': energy is not available"
        in err
    )
    assert "kind: roofline" in err and len(err.strip().splitlines()) == 1


def test_missing_experiment_file(tmp_path, capsys):
    assert main(["search", str(tmp_path / "nope.yaml")]) == 2
    assert "experiment file not found" in capsys.readouterr().err


def test_cli_process_exits_2_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_with(space__name="resnet")))
    proc = subprocess.run(
        [sys.executable, "-m", "dppnas", "search", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unknown search space 'resnet'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_overrides_replace_top_level_keys(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(VALID))
    exp = load_experiment(path, {"num_samples": 3, "name": "other", "storage_path": None})
    assert exp.num_samples == 3 and exp.name == "other" and exp.storage_path == "runs"
