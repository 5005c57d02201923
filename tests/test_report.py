"""Results of one real run (digits, 4 trials): report, export round trips, retrain, TensorBoard."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from dppnas.cli import main
from dppnas.config import load_experiment
from dppnas.pareto import ParetoArchive
from dppnas.results.summary import budget_picks, knee_index
from dppnas.search import run_search

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 4


@pytest.fixture(scope="module")
def run_dir(ray_session, tmp_path_factory):
    space = {"name": "dpp", "max_depth": 2, "cells_per_stage": [1], "growth": [8]}
    return _search(tmp_path_factory.mktemp("runs"), "results", space, TRIALS)


@pytest.fixture(scope="module")
def monas_run_dir(ray_session, tmp_path_factory):
    space = {"name": "monas", "num_layers": 2, "filters": [24, 36]}
    return _search(tmp_path_factory.mktemp("runs"), "monas", space, 2)


def _search(storage, name, space, trials):
    """A real, small search on digits (1 epoch per trial); returns its run folder."""
    experiment = {
        "name": name,
        "seed": 0,
        "dataset": {"name": "digits", "val_fraction": 0.2},
        "space": space,
        "searcher": {"name": "random"},
        "objectives": [
            {"metric": "accuracy", "mode": "max", "ref": 0.0},
            {"metric": "latency/local-cpu", "mode": "min", "ref": 10.0},
        ],
        "devices": {"local-cpu": {"kind": "measured", "threads": 1, "time_cap_s": 0.1}},
        "train": {"epochs": 1, "batch_size": 128, "lr": 0.1, "checkpoint_every": 0},
        "num_samples": trials,
        "max_concurrent": 2,
        "storage_path": str(storage),
    }
    path = storage / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment))
    assert run_search(load_experiment(path), stream=io.StringIO()) == 0
    return storage / name


def test_knee_is_the_point_farthest_from_the_extremes_line():
    front = [[0.9, 10.0], [0.85, 2.0], [0.5, 1.0]]  # accuracy max, latency min
    assert knee_index(front, [True, False]) == 1
    three = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.2, 0.2, 0.0]]
    assert knee_index(three, [False, False, False]) == 2  # nearest to the ideal point


def test_budget_picks_take_the_most_accurate_within_the_quantile():
    picks = budget_picks([0.5, 0.8, 0.9], {"lat": [1.0, 2.0, 3.0]}, {"lat": [1.0, 2.0, 3.0]})
    assert [(p.budget, p.index) for p in picks] == [(1.5, 0), (2.0, 1), (2.5, 1)]


def test_report_writes_table_plot_and_html(run_dir, capsys):
    assert main(["report", str(run_dir)]) == 0
    out = run_dir / "report"
    front = ParetoArchive.load(run_dir / "pareto.json").front()
    rows = list(np.atleast_1d(np.genfromtxt(out / "front.csv", delimiter=",", names=True)))
    assert len(rows) == len(front) >= 1
    png = out / "front_accuracy_vs_latency-local-cpu.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and front[0].trial_id in page
    printed = capsys.readouterr().out
    assert "knee: trial" in printed and "budget latency/local-cpu" in printed


def test_report_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("space", ["dpp", "monas"])
def test_export_round_trip(request, space, tmp_path, capsys, fmt):
    run = request.getfixturevalue("run_dir" if space == "dpp" else "monas_run_dir")
    out = tmp_path / f"model.{fmt}"
    assert main(["export", str(run), "--rank", "0", "--format", fmt, "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    diff = float(capsys.readouterr().out.rsplit("random input", 1)[1].split()[0])
    assert diff <= 1e-4


def test_export_without_checkpoint_says_so(run_dir, tmp_path, capsys):
    trial = ParetoArchive.load(run_dir / "pareto.json").front()[0].trial_id
    fake = tmp_path / "run"
    fake.mkdir()
    (fake / "pareto.json").write_text((run_dir / "pareto.json").read_text())
    args = ["export", str(fake), "--trial", trial, "--format", "onnx", "--out", "x.onnx"]
    assert main(args) == 2
    assert "no checkpoint for trial" in capsys.readouterr().err


def test_retrain_one_epoch(run_dir, tmp_path, capsys):
    args = ["retrain", str(run_dir), "--rank", "0", "--epochs", "1", "--storage", str(tmp_path)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "latency/local-cpu" in printed
    (result,) = tmp_path.glob("retrain-*/trial_*/result.json")
    assert json.loads(result.read_text().splitlines()[-1])["final"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_tensorboard_serves_the_search_scalars(run_dir):
    port = _free_port()
    tensorboard = Path(sys.executable).parent / "tensorboard"
    cmd = [str(tensorboard), "--logdir", str(run_dir), "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--load_fast", "false", "--reload_interval", "1"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    tags: dict = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                runs = _get(f"{base}/data/runs")
                tags = _get(f"{base}/data/plugin/scalars/tags")
                if any("search/hypervolume" in t for t in tags.values()):
                    break
            except OSError:  # not listening yet
                pass
            time.sleep(1)
        assert any("search/hypervolume" in t for t in tags.values()), tags
        assert "search" in runs
        # the HPARAMS view: one run per final trial, architecture decisions as hparams
        archive = json.loads((run_dir / "pareto.json").read_text())
        hparam_runs = [r for r in runs if r.startswith("hparams/")]
        assert len(hparam_runs) == len(archive["entries"]) > 0, runs
        assert _get(f"{base}/data/plugins_listing")["hparams"]["enabled"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_report_with_references_trains_them_once(run_dir, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["report", str(run_dir), "--out", str(out), "--with-references"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("training reference") == 2  # DenseNet-BC and CondenseNet cells
    assert "reference DenseNet-BC cell (same recipe): accuracy" in printed
    cache = json.loads((out / "references.json").read_text())
    assert set(cache) == {"DenseNet-BC cell", "CondenseNet cell"}
    for ref in cache.values():
        assert 0 <= ref["metrics"]["accuracy"] <= 1 and ref["metrics"]["latency/local-cpu"] > 0
    assert "DenseNet-BC cell" in (out / "report.html").read_text()
    assert main(args) == 0  # second report: from the cache, nothing retrained
    assert "training reference" not in capsys.readouterr().out


def test_monas_reference_is_a_plain_3x3_network():
    from dppnas.results.references import reference_archs
    from dppnas.spaces import make_space

    (arch,) = reference_archs(make_space({"name": "monas", "num_layers": 2})).values()
    assert arch == {
        "layer1_filter_height": 3,
        "layer1_filter_width": 3,
        "layer1_filters": 64,
        "layer2_filter_height": 3,
        "layer2_filter_width": 3,
        "layer2_filters": 64,
    }


def test_onnx_export_without_onnxruntime_says_how_to_get_it(run_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    args = ["export", str(run_dir), "--rank", "0", "--format", "onnx", "--out", str(tmp_path / "m")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "pip install 'dppnas[onnx]'" in err and len(err.strip().splitlines()) == 1


def test_a_failed_export_check_leaves_the_previous_file(run_dir, tmp_path, capsys, monkeypatch):
    import dppnas.export

    out = tmp_path / "model.pt"
    out.write_bytes(b"the good model of yesterday")
    monkeypatch.setattr(dppnas.export, "TOLERANCE", -1.0)  # every export now fails its check
    args = ["export", str(run_dir), "--rank", "0", "--format", "torchscript", "--out", str(out)]
    assert main(args) == 2
    assert out.read_bytes() == b"the good model of yesterday"
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary file


def test_accuracies_have_fixed_decimals_axes_units_and_the_knee_shows_its_point():
    from dppnas.pareto import Objective
    from dppnas.pareto.plot import front_figure
    from dppnas.tuning.front import fmt_cell

    assert [fmt_cell(v, "accuracy") for v in (1.0, 0.97921, 1)] == ["1.0000", "0.9792", "1.0000"]
    assert fmt_cell(1234.5678, "flops") == "1235"
    objectives = [
        Objective(metric="accuracy", mode="max", ref=0.0),
        Objective(metric="latency/local-cpu", mode="min", ref=5.0),
    ]
    archive = ParetoArchive(objectives)
    for i, (acc, ms) in enumerate([(0.9, 3.0), (0.8, 1.0), (0.7, 2.0)]):
        archive.add(f"t{i}", {}, {"accuracy": acc, "latency/local-cpu": ms}, save=False)
    figure = front_figure(archive, knee=archive.front()[0])
    ax = figure.axes[0]
    assert ax.get_xlabel() == "accuracy (0-1, higher is better)"
    assert ax.get_ylabel() == "latency/local-cpu (ms, lower is better)"
    knee = next(c for c in ax.collections if c.get_label() == "knee")
    assert knee.get_facecolors().size == 0 or knee.get_facecolors()[0][3] == 0  # hollow
