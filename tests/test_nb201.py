"""The ``nb201`` space: decisions, cell strings, canonical keys, the network, devices, search."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
import torch
import yaml

from dppnas.cli import main
from dppnas.complexity import count_params
from dppnas.config import load_experiment
from dppnas.devices.lut import LookupTable
from dppnas.errors import DppnasError
from dppnas.nn.nb201 import NB201_OPS, live_edges
from dppnas.profiling.coverage import covering_architectures
from dppnas.profiling.profile import build_deployed, sample_architectures
from dppnas.signatures.network import layer_signatures
from dppnas.spaces import NB201Genotype, arch_key, cell_key, enumerate_architectures, make_space
from dppnas.spaces.nb201 import EDGE_NAMES

EDGES = ["edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2"]
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
TINY = {"name": "nb201", "cells_per_stage": 1, "channels": 4}


def arch(*ops: str) -> dict[str, str]:
    return dict(zip(EDGES, ops, strict=True))


def nb201_unique_str(ops) -> str:
    """NB201's own isomorphism key, ``Structure.to_unique_str(consider_zero=True)``
    (NAS-Bench-201, lib/models/cell_searchs/genotypes.py), transcribed."""
    nodes = {0: "0"}
    k = 0
    for i in (1, 2, 3):
        terms = []
        for j in range(i):
            op = ops[k]
            k += 1
            if op == "none" or nodes[j] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[j])
            else:
                terms.append(f"({nodes[j]})@{op}")
        nodes[i] = "+".join(sorted(terms))
    return nodes[3]


def test_decisions_are_the_six_edges_with_nb201_ops_in_order():
    space = make_space({"name": "nb201"})
    assert [d.name for d in space.decisions] == EDGES == list(EDGE_NAMES)
    assert all(list(d.choices) == OPS == list(NB201_OPS) for d in space.decisions)
    assert set(space.tune_space()) == set(EDGES)


def test_cell_strings_round_trip():
    space = make_space({"name": "nb201"})
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    a = space.arch_from_string(text)
    assert a == arch("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    assert space.arch_to_string(a) == text == space.decode(a).string
    assert NB201Genotype.from_string(text).ops == tuple(a.values())
    assert space.describe(a) == text
    for bad in ("|nor_conv_3x3~0|", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"):
        with pytest.raises(DppnasError):
            space.arch_from_string(bad)
    with pytest.raises(DppnasError, match="edge_2_1"):
        space.decode({**a, "edge_2_1": "conv5x5"})


def test_dead_edges_and_isomorphic_cells_share_one_key():
    space = make_space({"name": "nb201"})

    def key(*ops):
        return arch_key(space.encode(space.decode(arch(*ops))))

    conv = "nor_conv_3x3"
    base = key(conv, "none", "none", "none", "skip_connect", "none")  # x -> conv -> out
    # a conv on node 2 that never reaches the output is dead
    assert key(conv, conv, "none", "none", "skip_connect", "none") == base
    # routing through a skip: conv(x) reached as node1 = x, node3 = conv(node1)
    assert key("skip_connect", "none", "none", "none", conv, "none") == base
    # relabelling nodes 1 and 2 (no edge between them) is the same cell
    a = key("nor_conv_1x1", conv, "none", "none", "skip_connect", "skip_connect")
    b = key(conv, "nor_conv_1x1", "none", "none", "skip_connect", "skip_connect")
    assert a == b
    # an op on an always-zero node is dead: the output is zero, like the empty cell
    assert key("none", "none", conv, "none", "none", "skip_connect") == key(*["none"] * 6)
    # but not everything collapses: different ops, different order, one conv vs two
    assert key("nor_conv_1x1", *["none"] * 3, "skip_connect", "none") != base
    pool = "avg_pool_3x3"
    assert key(conv, "none", pool, "none", "none", "skip_connect") != key(
        pool, "none", conv, "none", "none", "skip_connect"
    )
    one = key(conv, "none", "skip_connect", "none", "skip_connect", "skip_connect")  # 2*conv(x)
    two = key(conv, conv, "none", "none", "skip_connect", "skip_connect")  # conv(x) + conv'(x)
    assert one != two


def test_distinct_architectures_are_counted_by_canonical_key():
    space = make_space({"name": "nb201"})
    archs = enumerate_architectures(space)
    assert len(archs) == space.size() == 5488
    raw = list(itertools.product(OPS, repeat=6))
    # NB201's own rule, as published, gives its 6,466
    assert len({nb201_unique_str(ops) for ops in raw}) == 6466
    for a in archs[::50]:  # the canonical member is in its own class and is a fixed point
        ops = tuple(a.values())
        assert space.encode(space.decode(a)) == a
        assert all(live_edges(ops)[i] or op == "none" for i, op in enumerate(ops))
    for ops in raw[::97]:
        canonical = space.encode(space.decode(arch(*ops)))
        assert cell_key(tuple(canonical.values())) == cell_key(ops)


def test_network_matches_nb201_scale_and_dead_edges_build_nothing():
    space = make_space({"name": "nb201"})
    conv3 = space.build(arch(*["nor_conv_3x3"] * 6), (3, 32, 32), 10)
    empty = space.build(arch(*["none"] * 6), (3, 32, 32), 10)
    # NB201's parameter range on CIFAR-10: 0.0734 M (no cell op) to 1.5316 M (all 3x3 convs)
    assert count_params(conv3) == 1_531_546
    assert count_params(empty) == 73_306
    assert conv3(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    dead = arch("nor_conv_3x3", "nor_conv_3x3", "none", "none", "skip_connect", "none")
    live = arch("nor_conv_3x3", "none", "none", "none", "skip_connect", "none")
    torch.manual_seed(0)
    a = space.build(dead, (3, 32, 32), 10).eval()
    torch.manual_seed(0)
    b = space.build(live, (3, 32, 32), 10).eval()
    x = torch.randn(2, 3, 32, 32)
    assert count_params(a) == count_params(b)
    assert torch.equal(a(x), b(x))


def test_proxy_network_on_one_channel_inputs():
    space = make_space({"name": "nb201", "cells_per_stage": 2, "channels": 8})
    model = space.build(arch(*["avg_pool_3x3"] * 6), (1, 28, 28), 10)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(DppnasError, match="at least 4x4"):
        space.build(arch(*["none"] * 6), (1, 2, 2), 10)


def test_signature_cover_has_every_layer_of_the_space():
    space = make_space(TINY)
    shape = (1, 8, 8)
    covered = set()
    for a in covering_architectures(space):
        covered |= {s.key for s in layer_signatures(build_deployed(space, a, shape, 10), shape)}
    for a in sample_architectures(space, 40, seed=0):
        model = build_deployed(space, a, shape, 10)
        missing = {s.key for s in layer_signatures(model, shape)} - covered
        assert not missing, f"{space.describe(a)}: {sorted(missing)}"


def test_profile_and_lut_latency_on_nb201(tmp_path):
    lut = tmp_path / "nb201.lut.json"
    options = ["-o", "cells_per_stage=1", "-o", "channels=4"]
    common = ["--input-shape", "1,8,8", "--rounds", "1", "--calibration-networks", "6"]
    assert main(["profile", "--space", "nb201", *options, *common, "--out", str(lut)]) == 0
    table = LookupTable.load(lut)
    assert table.space_config("nb201") == {**TINY}
    from dppnas.devices import make_device, validate_device_options

    device = make_device("tiny", validate_device_options("tiny", {"kind": "lut", "path": str(lut)}))
    space = make_space(TINY)
    small = device.latency_ms(space.build(arch(*["none"] * 6), (1, 8, 8), 10), (1, 8, 8))
    big = device.latency_ms(space.build(arch(*["nor_conv_3x3"] * 6), (1, 8, 8), 10), (1, 8, 8))
    assert 0 < small < big


def test_nb201_search_trains_real_networks(ray_session, tmp_path):
    """A real Tune search of the nb201 space on digits (8x8): measured latency, MONAS."""
    from dppnas.search import run_search

    experiment = {
        "name": "nb201-digits",
        "seed": 0,
        "dataset": {"name": "digits", "val_fraction": 0.2},
        "space": TINY,
        "searcher": {"name": "monas", "batch_size": 2},
        "objectives": [
            {"metric": "accuracy", "mode": "max", "ref": 0.0},
            {"metric": "latency/local-cpu", "mode": "min", "ref": 50.0},
        ],
        "devices": {"local-cpu": {"kind": "measured", "threads": 1, "time_cap_s": 0.05}},
        "train": {"epochs": 1, "batch_size": 128, "lr": 0.1},
        "num_samples": 3,
        "max_concurrent": 2,
        "storage_path": str(tmp_path),
    }
    path = tmp_path / "nb201.yaml"
    path.write_text(yaml.safe_dump(experiment))
    out = io.StringIO()
    assert run_search(load_experiment(path), stream=out) == 0, out.getvalue()
    files = sorted(tmp_path.glob("nb201-digits/*/result.json"))
    results = [json.loads(f.read_text().splitlines()[-1]) for f in files]
    assert len(results) == 3
    for r in results:
        assert r["config"]["space"]["name"] == "nb201" and r["latency"]["local-cpu"] > 0


@pytest.mark.parametrize("name", ["nb201_fashion", "nb201_cifar10"])
def test_shipped_nb201_experiments_validate(name):
    exp = load_experiment(f"experiments/{name}.yaml")
    assert exp.search_space.name == "nb201"


def test_live_edges_match_reachability_in_the_cell_graph():
    """The written-out rule against a plain graph search, on all 15,625 cells."""
    edges = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    for ops in itertools.product(OPS, repeat=6):
        graph = [(to, src) for (to, src), op in zip(edges, ops, strict=True) if op != "none"]
        from_input, to_output = {0}, {3}
        for _ in range(3):
            from_input |= {to for to, src in graph if src in from_input}
            to_output |= {src for to, src in graph if to in to_output}
        expected = tuple(
            op != "none" and src in from_input and to in to_output
            for (to, src), op in zip(edges, ops, strict=True)
        )
        assert live_edges(ops) == expected, ops


# --- the nb201-hw table -----------------------------------------------------------------------

DEVICES_27 = {
    *(f"{gpu}_{b}" for gpu in ("1080ti", "2080ti", "titan_rtx", "titanx", "titanxp")
      for b in (1, 32, 256)),
    "gold_6226", "gold_6240", "silver_4114", "silver_4210r", "raspi4", "pixel3", "eyeriss",
    "fpga", "pixel2", "samsung_a50", "samsung_s7", "essential_ph_1",
}  # fmt: skip


@pytest.fixture(scope="module")
def hw():
    from dppnas.bench.table import load_table

    return load_table("nb201-hw")


def test_nb201_hw_declares_its_metrics_and_reference_points(hw):
    assert len(hw.entries) == 5488 == make_space({"name": "nb201"}).size()
    assert hw.metric_names[:4] == ["accuracy", "test_accuracy", "params", "flops"]
    assert {n.removeprefix("latency/") for n in hw.metric_names[4:]} == DEVICES_27
    for name, metric in hw.metrics.items():
        values = hw.values(name)
        assert values.shape == (5488,) and np.isfinite(values).all()
        worst = values.min() if metric.mode == "max" else values.max()
        assert metric.ref == worst and metric.mode == ("max" if "accuracy" in name else "min")
    for name in ("accuracy", "test_accuracy"):
        assert hw.values(name).min() > 0.09 and hw.values(name).max() < 0.96
    assert [o.metric for o in hw.objectives] == ["accuracy", "latency/raspi4"]
    assert hw.reference_point == [hw.metrics["accuracy"].ref, hw.metrics["latency/raspi4"].ref]
    assert len(hw.true_front()) >= 10 and hw.true_front_hv > 0
    with pytest.raises(DppnasError, match="not a metric of table nb201-hw"):
        hw.with_objectives(["accuracy", "latency/jetson"])


def test_nb201_hw_values_are_the_csv_rows_and_our_builder(hw):
    space = hw.space
    # HW-NAS-Bench's README, architecture 0: raspi4 10.482, pixel3 3.606, eyeriss 3.646, fpga
    # 2.573 ms
    text = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    metrics = hw.lookup(space.arch_from_string(text)).metrics()
    assert metrics["latency/raspi4"] == pytest.approx(10.482, abs=1e-3)
    assert metrics["latency/pixel3"] == pytest.approx(3.606, abs=1e-3)
    assert metrics["latency/eyeriss"] == pytest.approx(3.646, abs=1e-3)
    assert metrics["latency/fpga"] == pytest.approx(2.573, abs=1e-3)
    conv3 = hw.lookup(arch(*["nor_conv_3x3"] * 6))
    assert conv3.params == 1_531_546 == hw.values("params").max()
    # any encoding of an architecture finds its entry: a dead conv changes nothing
    dead = arch("nor_conv_3x3", "nor_conv_3x3", "none", "none", "skip_connect", "none")
    live = arch("nor_conv_3x3", "none", "none", "none", "skip_connect", "none")
    assert hw.lookup(dead) is hw.lookup(live)
    for entry in hw.entries[::499]:  # params and FLOPs are the builder's own counts
        from dppnas.complexity import count_flops

        model = space.build(entry.arch, (3, 32, 32), 10)
        assert (entry.params, entry.flops) == (count_params(model), count_flops(model, (3, 32, 32)))


def test_objectives_are_chosen_among_the_metrics(hw):
    panacea = hw.with_objectives(
        ["accuracy", "latency/raspi4", "latency/pixel3", "latency/titan_rtx_1"]
    )
    assert [o.metric for o in hw.objectives] == ["accuracy", "latency/raspi4"]  # unchanged
    assert panacea.points().shape == (5488, 4)
    assert panacea.reference_point[3] == hw.values("latency/titan_rtx_1").max()
    assert len(panacea.true_front()) > len(hw.true_front())
    # a 4-objective front holds every 2-objective front's points
    two = {e.index for e in hw.true_front_entries()}
    assert two <= {e.index for e in panacea.true_front_entries()}
    costs = hw.cell_costs([space_genotype(hw, e) for e in hw.entries[:3]])
    assert set(costs) == set(hw.metric_names) - {"accuracy", "test_accuracy"}
    assert costs["latency/raspi4"] == [e.values["latency/raspi4"] for e in hw.entries[:3]]


def space_genotype(table, entry):
    return table.space.decode(entry.arch)


def test_replay_reports_every_device_latency(hw):
    from dppnas.bench.replay import _metrics

    entry = hw.entries[100]
    report = _metrics(entry, 1)
    assert report["final"] is True and report["epochs"] == 1
    assert report["accuracy"] == entry.val_accuracy[0] and report["test_accuracy"] < 1
    assert set(report["latency"]) == DEVICES_27
    assert report["latency"]["gold_6226"] == entry.values["latency/gold_6226"]


def test_bench_compare_picks_objectives_and_reports_regret(hw, tmp_path, capsys):
    out = tmp_path / "panacea.json"
    metrics = ["accuracy", "latency/raspi4", "latency/pixel3", "latency/titan_rtx_1"]
    argv = ["bench", "compare", "--table", "nb201-hw", "--objectives", ",".join(metrics)]
    argv += ["--searchers", "random", "--budget", "20", "--seeds", "2", "--engine", "direct"]
    assert main([*argv, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"table", "objectives", "reference_point", "true_front_hv", "budget"} <= set(data)
    assert [o["metric"] for o in data["objectives"]] == metrics
    assert data["reference_point"] == [hw.metrics[m].ref for m in metrics]
    assert f"reference point: {data['reference_point']}" in capsys.readouterr().out
    r = data["results"]["random"]
    assert len(r["log_hv_regret"]) == len(r["front_found"]) == 2
    assert all(-6 <= v < 0 for v in r["log_hv_regret"]) and all(
        0 <= f < 1 for f in r["front_found"]
    )
    assert out.with_suffix(".png").stat().st_size > 0


def test_finding_the_whole_front_scores_the_floor(hw):
    from dppnas.bench.scoring import RunTrace, score_trace

    front = hw.true_front_entries()
    trace = RunTrace(
        archs=[hw.entries[0].arch] + [e.arch for e in front],
        epochs=[1] * (len(front) + 1),
        final=[True] * (len(front) + 1),
    )
    score = score_trace(hw, trace, len(front) + 1)
    assert score["hv_ratio"] == pytest.approx(1.0)
    assert score["log_hv_regret"] == -6.0 and score["front_found"] == 1.0
    half = RunTrace(
        archs=trace.archs[: len(front) // 2 + 1], epochs=trace.epochs, final=trace.final
    )
    half.epochs, half.final = half.epochs[: len(half.archs)], half.final[: len(half.archs)]
    partial = score_trace(hw, half, len(front) + 1)
    assert partial["front_found"] == pytest.approx((len(front) // 2) / len(front))
    assert -6 < partial["log_hv_regret"] < 0
