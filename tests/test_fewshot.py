"""Few-shot device model, HELP's transfer protocol, the ``fewshot`` device and ``latency-eval``,
scored on synthetic devices whose latency is a known function of the architecture (so a
right model must score near-perfectly and a wrong one must fail)."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest

from dppnas.cli import main
from dppnas.devices import make_device
from dppnas.devices.fewshot import (
    AVERAGE,
    AVERAGE_WITHIN,
    Candidate,
    FewShotModel,
    Regression,
    fit_fewshot,
)
from dppnas.devices.reference_table import NB201_EDGE_NAMES, load_reference_latencies
from dppnas.errors import DppnasError
from dppnas.profiling.evaluate import evaluate_table
from dppnas.profiling.transfer import transfer_scores

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: per-op cost (ms) of the synthetic reference device and of the synthetic "per-op" target
REF_COST = {
    "none": 0.0,
    "skip_connect": 0.05,
    "nor_conv_1x1": 0.4,
    "nor_conv_3x3": 1.9,
    "avg_pool_3x3": 0.3,
}
OTHER_COST = {
    "none": 0.0,
    "skip_connect": 0.3,
    "nor_conv_1x1": 0.2,
    "nor_conv_3x3": 0.5,
    "avg_pool_3x3": 1.1,
}


def _cells(n: int, seed: int = 0) -> list[tuple[str, ...]]:
    every = list(itertools.product(OPS, repeat=6))
    rng = np.random.default_rng(seed)
    return [every[i] for i in rng.choice(len(every), n, replace=False)]


def _cell_string(ops: tuple[str, ...]) -> str:
    it = iter(ops)
    return "+".join("|" + "|".join(f"{next(it)}~{s}" for s in range(to)) + "|" for to in (1, 2, 3))


def _synthetic_devices(cells: list[tuple[str, ...]], seed: int = 0) -> dict[str, np.ndarray]:
    """Latency (ms) of each cell on synthetic devices, known functions of the architecture."""
    ref = np.array([2.0 + sum(REF_COST[o] for o in c) for c in cells])
    per_op = np.array([1.0 + sum(OTHER_COST[o] for o in c) for c in cells])
    rng = np.random.default_rng(seed)
    return {
        "ref_a": ref,
        "ref_b": per_op * 1.3 + 0.5,
        "scaled_a": 1.7 * ref + 0.4,  # a linear function of a reference
        "per_op": per_op + 0.25 * ref,  # a reference plus per-op terms
        "noise": rng.lognormal(1.0, 0.4, len(cells)),  # no function of the architecture
    }


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory):
    """An nb201-hw style CSV of 800 cells on the synthetic devices."""
    cells = _cells(800)
    devices = _synthetic_devices(cells)
    path = tmp_path_factory.mktemp("table") / "synthetic.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "arch", *(f"latency_ms/{d}" for d in devices)])
        for i, cell in enumerate(cells):
            writer.writerow([i, _cell_string(cell), *(f"{devices[d][i]:.6f}" for d in devices)])
    return path, cells, devices


# --- the model --------------------------------------------------------------------------------


def test_fit_recovers_a_linear_function_of_a_reference():
    rng = np.random.default_rng(0)
    ref = rng.uniform(1, 20, 10)
    other = rng.uniform(1, 20, 10)
    model = fit_fewshot({"latency/a": ref, "latency/b": other}, 3.0 * ref + 1.5)
    assert model.features == ["latency/a"] and model.form == "linear"
    assert model.intercept == pytest.approx(1.5, rel=1e-6)
    assert model.coefficients == pytest.approx([3.0], rel=1e-6)
    assert model.loo_log_rmse == pytest.approx(0.0, abs=1e-6)
    new = np.array([2.0, 40.0])
    assert model.predict({"latency/a": new, "latency/b": new}) == pytest.approx(3 * new + 1.5)


def test_fit_prefers_the_log_form_for_a_power_law():
    rng = np.random.default_rng(1)
    ref = rng.uniform(1, 50, 10)
    model = fit_fewshot({"latency/a": ref}, 0.5 * ref**1.3)
    assert model.form == "log" and model.coefficients == pytest.approx([1.3], rel=1e-6)


def test_averaged_models_are_the_next_best_within_twice_the_best_error():
    """With noisy measurements up to AVERAGE models, each within AVERAGE_WITHIN times the best
    leave-one-out error, are averaged (geometric mean); average=1 is the best model alone, and
    a model saved before averaging existed loads as that."""
    rng = np.random.default_rng(3)
    features = {f"latency/{d}": rng.uniform(1, 20, 10) for d in "abc"}
    features["flops"] = rng.uniform(1, 5, 10)
    y = (2 * features["latency/a"] + features["latency/b"]) * rng.lognormal(0, 0.05, 10)
    model = fit_fewshot(features, y)
    assert 1 <= len(model.averaged) <= AVERAGE - 1
    best = model.loo_log_rmse
    assert all(best <= m.loo_log_rmse <= AVERAGE_WITHIN * best for m in model.averaged)
    first = Regression(**model.model_dump(include=set(Regression.model_fields)))
    members = [first, *model.averaged]
    expected = np.exp(np.mean([np.log(m.predict(features)) for m in members], axis=0))
    assert model.predict(features) == pytest.approx(expected)
    assert model.label == f"{first.label} averaged with {len(model.averaged)} more"
    single = fit_fewshot(features, y, average=1)
    assert single.averaged == [] and single.label == first.label
    assert single.predict(features) == pytest.approx(first.predict(features))
    saved_before = single.model_dump(exclude={"averaged"})
    assert FewShotModel.model_validate(saved_before) == single
    with pytest.raises(DppnasError, match="at least 1"):
        fit_fewshot(features, y, average=0)


def test_averaging_skips_a_model_without_a_positive_prediction():
    def line(intercept: float, slope: float) -> Regression:
        return Regression(
            form="linear", features=["flops"], intercept=intercept, coefficients=[slope]
        )

    model = FewShotModel(
        **line(0.0, 2.0).model_dump(), points=10, fit_mape=0.0, averaged=[line(-3, 2), line(0, 8)]
    )
    # flops 1: 2, -1 (left out), 8 -> 4; flops 2: 4, 1, 16 -> 4
    assert model.predict({"flops": np.array([1.0, 2.0])}) == pytest.approx([4.0, 4.0])
    worse = model.model_copy(update={"intercept": -5.0, "averaged": [line(-3, 2)]})
    assert worse.predict({"flops": np.array([1.0])}) == pytest.approx([-3.0])  # none positive


def test_fit_rejects_too_few_or_bad_measurements():
    with pytest.raises(DppnasError, match="at least 3"):
        fit_fewshot({"flops": [1.0, 2.0]}, [1.0, 2.0])
    with pytest.raises(DppnasError, match="positive"):
        fit_fewshot({"flops": [1.0, 2.0, 3.0]}, [1.0, -2.0, 3.0])
    with pytest.raises(DppnasError, match="not available"):
        fit_fewshot({"flops": [1.0, 2.0, 3.0]}, [1, 2, 3], [Candidate("linear", ("params",))])


# --- the transfer protocol on synthetic devices -------------------------------------------------


def _transfer(devices, targets, references, free=None, draws=5):
    free = free if free is not None else {}
    return transfer_scores(free, devices, targets, references, samples=10, draws=draws)


def test_transfer_is_near_perfect_where_the_target_is_a_function_of_the_features(synthetic_csv):
    _, cells, devices = synthetic_csv
    table = load_reference_latencies(str(synthetic_csv[0]))
    result = transfer_scores(
        table.features, table.latencies, ["scaled_a", "per_op"], ["ref_a", "ref_b"], draws=5
    )
    assert result["samples"] == 10 and result["draws"] == 5
    assert result["references"] == ["ref_a", "ref_b"]
    for name in ("scaled_a", "per_op"):
        scores = result["devices"][name]
        assert set(scores) >= {"spearman", "kendall", "within_10pct", "mape"}
        assert all(len(scores[k]) == 5 for k in ("spearman", "kendall", "within_10pct", "mape"))
        assert min(scores["spearman"]) > 0.999
        assert min(scores["within_10pct"]) > 0.999
        assert max(scores["mape"]) < 0.5
    assert result["summary"]["mean_spearman"] > 0.999


def test_transfer_fails_a_target_the_features_do_not_explain(synthetic_csv):
    _, _, devices = synthetic_csv
    result = _transfer(devices, ["noise"], ["ref_a", "ref_b"])
    scores = result["devices"]["noise"]
    assert np.median(scores["spearman"]) < 0.3
    assert np.median(scores["within_10pct"]) < 0.5


def test_transfer_fails_without_the_per_op_terms(synthetic_csv):
    """per_op needs the op counts: from the reference alone (a deliberately wrong model) it
    cannot reach the near-perfect scores it gets with them."""
    _, _, devices = synthetic_csv
    scores = _transfer(devices, ["per_op"], ["ref_a"])["devices"]["per_op"]
    assert np.median(scores["within_10pct"]) < 0.9
    assert np.median(scores["spearman"]) < 0.9


def test_transfer_keeps_targets_out_of_the_references(synthetic_csv):
    _, _, devices = synthetic_csv
    with pytest.raises(DppnasError, match="both a target and a reference"):
        _transfer(devices, ["ref_a"], ["ref_a", "ref_b"])


def test_latency_transfer_command(synthetic_csv, tmp_path, capsys):
    path, _, _ = synthetic_csv
    out = tmp_path / "transfer.json"
    argv = ["latency-transfer", "--table", str(path), "--targets", "scaled_a,per_op"]
    argv += ["--references", "ref_a,ref_b", "--samples", "10", "--draws", "3", "--out", str(out)]
    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    mean, low = (float(part.split("=")[1]) for part in last.split())
    assert last.startswith("mean_spearman=") and mean > 0.999 and low > 0.999
    data = json.loads(out.read_text())
    assert data["samples"] == 10 and data["draws"] == 3 and data["references"] == ["ref_a", "ref_b"]
    assert set(data["devices"]) == {"scaled_a", "per_op"}
    assert len(data["devices"]["per_op"]["spearman"]) == 3

    for bad in (
        ["--targets", "ref_a", "--references", "ref_a"],
        ["--targets", "nosuch"],
        ["--targets", "per_op", "--samples", "1"],
        ["--targets", "per_op", "--draws", "0"],
        ["--targets", " , "],
    ):
        capsys.readouterr()
        code = main(["latency-transfer", "--table", str(path), "--out", str(out), *bad])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("dppnas: error:") and err.count("\n") == 1
    assert main(["latency-transfer", "--table", str(tmp_path / "no.csv"), "--out", "x"]) == 2


# --- the fewshot device ---------------------------------------------------------------------------


def test_fewshot_command_builds_a_device_for_experiments(
    synthetic_csv, tmp_path, capsys, monkeypatch
):
    path, cells, devices = synthetic_csv
    measured = tmp_path / "m.csv"
    with measured.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "latency_ms", "energy_mj"])
        for i in range(10):
            arch = dict(zip(NB201_EDGE_NAMES, cells[i], strict=True))
            ms = devices["scaled_a"][i]
            writer.writerow([json.dumps(arch), ms, 5.0 * ms])
    out = tmp_path / "target.fewshot.json"
    argv = ["fewshot", "--measurements", str(measured), "--table", str(path)]
    assert main([*argv, "--references", "ref_a,ref_b", "--out", str(out)]) == 0
    assert "kind: fewshot" in capsys.readouterr().out
    data = json.loads(out.read_text())  # plain JSON
    assert data["format"] == "dppnas-fewshot-device" and data["latency"]["points"] == 10

    device = make_device("target", {"kind": "fewshot", "path": str(out)})
    assert device.estimate and device.provides_energy and "ESTIMATE" in device.source()
    for i in range(10, 60):
        arch = dict(zip(NB201_EDGE_NAMES, cells[i], strict=True))
        expected = devices["scaled_a"][i]
        assert device.latency_ms(None, (3, 32, 32), arch=arch) == pytest.approx(expected, rel=1e-3)
        assert device.energy_mj(None, (3, 32, 32), arch=arch) == pytest.approx(
            5 * expected, rel=1e-3
        )
    with pytest.raises(DppnasError, match="without an architecture"):
        device.latency_ms(None, (3, 32, 32))
    missing = next(c for c in itertools.product(OPS, repeat=6) if c not in set(cells))
    with pytest.raises(DppnasError, match="not in the reference table"):
        device.latency_ms(None, (3, 32, 32), arch=dict(zip(NB201_EDGE_NAMES, missing, strict=True)))

    monkeypatch.chdir(tmp_path)  # `dppnas devices` lists ./*.fewshot.json
    capsys.readouterr()
    assert main(["devices"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert any(r[:3] == ["target.fewshot.json", "fewshot", "ESTIMATE,"] for r in rows)

    # a reference that is not in the table: one line, exit 2
    capsys.readouterr()
    assert main([*argv, "--references", "nosuch", "--out", str(out)]) == 2
    assert "nosuch" in capsys.readouterr().err


# --- latency-eval on a synthetic device -------------------------------------------------------


@pytest.fixture()
def synthetic_reference(monkeypatch):
    """Replace the timing of latency-eval's reference with ``truth(prediction)``: the device
    "measured" is a known function of what the table predicts for each network."""
    import dppnas.profiling.evaluate as evaluate

    truth = {"fn": lambda predicted: predicted}

    def fake_time(table, models, rounds, timing, seed, log, what):
        from dppnas.devices.lut import LutDevice

        lut = LutDevice.from_table(table, "lut")
        return [[truth["fn"](lut.latency_ms(m, table.input_shape))] * rounds for m in models]

    monkeypatch.setattr(evaluate, "time_like_table", fake_time)
    return truth


def test_latency_eval_scores_a_synthetic_device_exactly(tiny_lut, synthetic_reference):
    space, path = tiny_lut
    synthetic_reference["fn"] = lambda p: (
        1.08 * p
    )  # every prediction 1/1.08 of the truth: 7.4 % low
    result = evaluate_table(path, space, n=12, seed=1, rounds=2, log=lambda m: None)
    assert result["within_10pct"] == 1.0 and result["within_5pct"] == 0.0
    assert result["mape"] == pytest.approx(100 * (1 - 1 / 1.08), rel=1e-6)
    assert result["spearman"] == pytest.approx(1.0)


def test_latency_eval_reference_ignores_rounds_spoiled_by_load(tiny_lut, monkeypatch):
    """Each network's first two of three rounds are hit by foreign load (2x): the reference
    takes their minimum (what a table profiled with the default statistic does) and scores the exact model exactly; the
    median of the rounds, the summary before, measures the load instead."""
    import dppnas.profiling.evaluate as evaluate
    from dppnas.devices.lut import LutDevice

    def fake_time(table, models, rounds, timing, seed, log, what):
        lut = LutDevice.from_table(table, "lut")
        return [
            [2 * lut.latency_ms(m, table.input_shape)] * 2 + [lut.latency_ms(m, table.input_shape)]
            for m in models
        ]

    monkeypatch.setattr(evaluate, "time_like_table", fake_time)
    space, path = tiny_lut
    quiet = {"n": 12, "seed": 1, "rounds": 3, "log": lambda m: None}
    result = evaluate_table(path, space, rounds_summary="min", **quiet)
    assert result["within_5pct"] == 1.0 and result["mape"] == pytest.approx(0.0, abs=1e-9)
    spoiled = evaluate_table(path, space, rounds_summary="median", **quiet)
    assert spoiled["within_10pct"] == 0.0 and spoiled["mape"] == pytest.approx(50.0)


def test_latency_eval_fails_a_wrong_model(tiny_lut, synthetic_reference):
    space, path = tiny_lut
    synthetic_reference["fn"] = lambda p: 1.0 / p  # slower networks predicted faster
    result = evaluate_table(path, space, n=12, seed=1, rounds=2, log=lambda m: None)
    assert result["spearman"] == pytest.approx(-1.0)
    assert result["within_10pct"] < 0.5


@pytest.fixture(scope="module")
def tiny_lut(tmp_path_factory, quick_table):
    config = {
        "name": "dpp",
        "max_depth": 2,
        "norms": ["bn_relu", "identity"],
        "convs": ["conv1x1", "dwconv3x3", "conv3x3"],
        "cells_per_stage": [1],
        "growth": [8],
    }
    path = tmp_path_factory.mktemp("lut") / "tiny.lut.json"
    space, _ = quick_table(config, (1, 8, 8), path)
    return space, path


def test_fewshot_from_module_features_of_any_space(tiny_lut, tmp_path, capsys):
    """--space: FLOPs, params and a profiled reference table's sum, read from the network
    itself; a target twice as slow as the reference plus 0.1 ms is recovered exactly."""
    from dppnas.devices.lut import LutDevice, LutOptions
    from dppnas.profiling.profile import build_deployed, sample_architectures

    space, lut_path = tiny_lut
    reference = LutDevice("ref", LutOptions(path=str(lut_path)))
    archs = sample_architectures(space, 16, seed=4)

    def truth(arch):
        return (
            2.0 * reference.latency_ms(build_deployed(space, arch, (1, 8, 8), 10), (1, 8, 8)) + 0.1
        )

    measured = tmp_path / "m.csv"
    with measured.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch", "latency_ms"])
        for arch in archs[:10]:
            writer.writerow([json.dumps(arch), truth(arch)])
    out = tmp_path / "t.fewshot.json"
    argv = ["fewshot", "--measurements", str(measured), "--space", "dpp"]
    for key, value in space.config().items():
        if key != "name":
            argv += ["-o", f"{key}={json.dumps(value)}"]
    argv += ["--references", str(lut_path), "--input-shape", "1,8,8", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    device = make_device("t", {"kind": "fewshot", "path": str(out)})
    assert not device.provides_energy
    for arch in archs[10:]:
        model = build_deployed(space, arch, (1, 8, 8), 10)
        assert device.latency_ms(model, (1, 8, 8)) == pytest.approx(truth(arch), rel=1e-3)
    with pytest.raises(DppnasError, match="fitted at input"):
        device.latency_ms(build_deployed(space, archs[0], (1, 16, 16), 10), (1, 16, 16))


# --- live edges: a runtime that folds dead code ----------------------------------------------------


def _folding_device(cells: list[tuple[str, ...]]) -> np.ndarray:
    """A runtime that drops dead edges and folds a disconnected cell to a constant (as raspi4 and
    pixel3 do): only live edges cost, a disconnected network takes 0.01 ms."""
    from dppnas.nn.nb201 import live_edges

    out = []
    for cell in cells:
        live = live_edges(cell)
        cost = sum(OTHER_COST[o] for o, on in zip(cell, live, strict=True) if on)
        out.append(2.0 + cost if any(live) else 0.01)
    return np.array(out)


def test_transfer_needs_the_live_op_counts_on_a_folding_device(synthetic_csv):
    """On raw encodings (dead edges), a device that runs only live edges is a linear function of
    the live-op counts and ``connected``: near-perfect with them, well off with all-op counts."""
    path, cells, devices = synthetic_csv
    table = load_reference_latencies(str(path))
    assert {"live/nor_conv_3x3", "connected"} <= set(table.features)
    disconnected = table.features["connected"] == 0
    assert 0 < disconnected.sum() < len(cells) / 10  # a few of the random encodings
    assert (table.features["live/nor_conv_3x3"] <= table.features["ops/nor_conv_3x3"]).all()
    latencies = {"ref_a": devices["ref_a"], "folding": _folding_device(cells)}
    with_live = transfer_scores(table.features, latencies, ["folding"], ["ref_a"], draws=5)
    scores = with_live["devices"]["folding"]
    # a draw without a disconnected cell cannot know they fold: at most those few are missed
    assert np.median(scores["within_10pct"]) > 0.97
    assert np.median(scores["spearman"]) > 0.99
    assert all(m.startswith("linear(live/") for m in scores["models"])
    ops_only = {k: v for k, v in table.features.items() if not k.startswith("live/")}
    ops_only.pop("connected")
    without = transfer_scores(ops_only, latencies, ["folding"], ["ref_a"], draws=5)
    assert np.median(without["devices"]["folding"]["within_10pct"]) < 0.8


def test_connected_is_fitted_only_where_the_measured_cells_tell_it_apart():
    live = {"live/nor_conv_3x3": np.array([0.0, 1, 2, 3, 1, 2]), "connected": np.ones(6)}
    y = 2.0 + 0.5 * live["live/nor_conv_3x3"]
    model = fit_fewshot(live, y)
    assert "connected" not in model.features  # constant: not told apart from the intercept
    live["connected"] = np.array([0.0, 1, 1, 1, 1, 1])
    y[0] = 0.01  # a folded, disconnected cell
    model = fit_fewshot(live, y, average=1)  # the chosen model alone
    assert model.features == ["live/nor_conv_3x3", "connected"]
    folded = {"live/nor_conv_3x3": np.array([0.0, 2.0]), "connected": np.array([0.0, 1.0])}
    assert model.predict(folded) == pytest.approx([0.01, 3.0], rel=1e-6)


def test_canonical_encodings_get_no_copies_of_the_op_counts():
    """On canonical cells (every dead edge ``none``, as in ``nb201-hw``) live-op counts equal
    the op counts: no ``live/`` features, so the same model is not fitted twice."""
    from dppnas.devices.reference_table import _free_features
    from dppnas.spaces.nb201 import NB201Genotype, canonical_cell

    raw = [dict(zip(NB201_EDGE_NAMES, c, strict=True)) for c in _cells(200)]
    canonical_ops = [canonical_cell(NB201Genotype(tuple(a.values()))).ops for a in raw]
    canonical = [dict(zip(NB201_EDGE_NAMES, c, strict=True)) for c in canonical_ops]
    assert "live/skip_connect" in _free_features(raw, {})
    assert not any(k.startswith("live/") or k == "connected" for k in _free_features(canonical, {}))
