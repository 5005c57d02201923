"""The Pareto archive, indicators and selection, without Ray: brute force and hand-worked values."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dppnas.errors import DppnasError
from dppnas.pareto import (
    Objective,
    ParetoArchive,
    crowding_distance,
    epsilon_net_order,
    hypervolume,
    igd_plus,
    non_dominated_rank,
    rank_and_crowding_order,
)
from dppnas.pareto import archive as archive_module

ACC_LAT = [
    Objective(metric="accuracy", mode="max", ref=0.0),
    Objective(metric="latency/cpu", mode="min", ref=10.0),
]


def _dominates(a, b, maximise) -> bool:
    """Brute-force Pareto dominance: a is no worse everywhere and better somewhere."""
    better = worse = False
    for x, y, up in zip(a, b, maximise, strict=True):
        if up:
            x, y = -x, -y
        better |= x < y
        worse |= x > y
    return better and not worse


def _brute_front(points, maximise) -> set[int]:
    return {
        i
        for i, p in enumerate(points)
        if not any(_dominates(q, p, maximise) for j, q in enumerate(points) if j != i)
    }


@st.composite
def _scenarios(draw):
    m = draw(st.integers(2, 4))
    maximise = draw(st.lists(st.booleans(), min_size=m, max_size=m))
    n = draw(st.integers(0, 30))
    # Small integer grid: ties and duplicates happen often.
    value = st.integers(0, 5)
    points = draw(st.lists(st.lists(value, min_size=m, max_size=m), min_size=n, max_size=n))
    finals = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return maximise, points, finals


def _objectives(maximise):
    return [
        Objective(metric=f"f{i}", mode="max" if up else "min", ref=-1.0 if up else 6.0)
        for i, up in enumerate(maximise)
    ]


@settings(max_examples=150, deadline=None)
@given(_scenarios())
def test_front_matches_brute_force_dominance(scenario):
    maximise, points, finals = scenario
    archive = ParetoArchive(_objectives(maximise))
    seen: list[list[int]] = []
    for i, (point, final) in enumerate(zip(points, finals, strict=True)):
        metrics = {f"f{j}": v for j, v in enumerate(point)}
        on_front = archive.add(f"t{i}", {"i": i}, metrics, final=final)
        if final:
            seen.append(point)
            # add() says whether the new point is non-dominated among the final points so far
            assert on_front == (len(seen) - 1 in _brute_front(seen, maximise))
        else:
            assert on_front is False
    final_ids = [f"t{i}" for i, f in enumerate(finals) if f]
    expected = {final_ids[i] for i in _brute_front(seen, maximise)}
    assert {e.trial_id for e in archive.front()} == expected
    assert {e.trial_id for e in archive.partial} == {f"t{i}" for i, f in enumerate(finals) if not f}
    assert len(archive) == len(final_ids)


@settings(max_examples=60, deadline=None)
@given(_scenarios(), st.data())
def test_replacing_a_result_recomputes_the_front(scenario, data):
    maximise, points, _ = scenario
    if not points:
        return
    archive = ParetoArchive(_objectives(maximise))
    for i, point in enumerate(points):
        archive.add(f"t{i}", {}, {f"f{j}": v for j, v in enumerate(point)})
    k = data.draw(st.integers(0, len(points) - 1))
    final = data.draw(st.booleans())
    new = data.draw(st.lists(st.integers(0, 5), min_size=len(maximise), max_size=len(maximise)))
    archive.add(f"t{k}", {}, {f"f{j}": v for j, v in enumerate(new)}, final=final)
    current = [new if i == k else p for i, p in enumerate(points)]
    ids = [f"t{i}" for i in range(len(points)) if final or i != k]
    kept = [p for i, p in enumerate(current) if final or i != k]
    assert {e.trial_id for e in archive.front()} == {ids[i] for i in _brute_front(kept, maximise)}


def test_non_dominated_rank_matches_brute_force_layers():
    rng = np.random.default_rng(3)
    points = rng.integers(0, 6, size=(40, 3)).astype(float)
    maximise = [True, False, True]
    ranks = non_dominated_rank(points, maximise)
    remaining = list(range(len(points)))
    layer = 0
    while remaining:
        front = _brute_front([points[i] for i in remaining], maximise)
        members = [remaining[i] for i in front]
        assert set(np.flatnonzero(ranks == layer)) == set(members)
        remaining = [i for i in remaining if i not in members]
        layer += 1


# ---- hypervolume and IGD+, by hand ----


def test_hypervolume_2d_by_hand():
    archive = ParetoArchive(ACC_LAT)
    archive.add("a", {}, {"accuracy": 0.5, "latency": {"cpu": 5.0}})  # nested -> latency/cpu
    archive.add("b", {}, {"accuracy": 0.6, "latency/cpu": 6.0})
    archive.add("c", {}, {"accuracy": 0.4, "latency/cpu": 7.0})  # dominated by a
    # boxes to the reference (0 accuracy, 10 ms): 0.5 x 5 plus the strip 0.1 x 4 above it
    assert archive.hypervolume() == pytest.approx(0.5 * 5 + 0.1 * 4)
    archive.add("slow", {}, {"accuracy": 0.9, "latency/cpu": 12.0})  # worse than the ref: no area
    assert archive.hypervolume() == pytest.approx(2.9)
    assert [e.trial_id for e in archive.front()] == ["slow", "b", "a"]  # best accuracy first


def test_hypervolume_3d_by_hand_with_a_maximised_objective():
    objectives = [
        Objective(metric="accuracy", mode="max", ref=0.0),
        Objective(metric="latency", mode="min", ref=4.0),
        Objective(metric="params", mode="min", ref=4.0),
    ]
    archive = ParetoArchive(objectives)
    archive.add("single", {}, {"accuracy": 1.0, "latency": 1.0, "params": 1.0})
    assert archive.hypervolume() == pytest.approx(1 * 3 * 3)
    archive = ParetoArchive(objectives)
    archive.add("p", {}, {"accuracy": 3.0, "latency": 2.0, "params": 3.0})  # box 3 x 2 x 1 = 6
    archive.add("q", {}, {"accuracy": 1.0, "latency": 1.0, "params": 2.0})  # box 1 x 3 x 2 = 6
    # overlap: accuracy up to 1, latency from 2, params from 3 -> 1 x 2 x 1 = 2
    assert archive.hypervolume() == pytest.approx(6 + 6 - 2)
    assert hypervolume(archive.points(), [0, 4, 4], [True, False, False]) == pytest.approx(10)


def test_igd_plus_by_hand():
    objectives = [
        Objective(metric="x", mode="min", ref=10.0),
        Objective(metric="y", mode="min", ref=10.0),
    ]
    archive = ParetoArchive(objectives)
    archive.add("a", {}, {"x": 1.0, "y": 2.0})
    archive.add("b", {}, {"x": 2.0, "y": 1.0})
    # reference (1, 1): nearest is 1 worse in one objective -> 1; reference (2, 2): 0
    assert archive.igd_plus([[1.0, 1.0]]) == pytest.approx(1.0)
    assert archive.igd_plus([[1.0, 1.0], [2.0, 2.0]]) == pytest.approx(0.5)
    # a maximised objective: IGD+ counts only the components where the front is worse
    assert igd_plus([[0.5, 5.0]], [[0.6, 5.0]], [True, False]) == pytest.approx(0.1)


def test_partial_and_incomplete_results_never_enter_the_front():
    archive = ParetoArchive(ACC_LAT)
    assert archive.add("early", {}, {"accuracy": 0.99, "latency/cpu": 0.1}, final=False) is False
    assert archive.add("nolat", {}, {"accuracy": 0.99}) is False
    assert archive.add("nan", {}, {"accuracy": float("nan"), "latency/cpu": 1.0}) is False
    assert archive.front() == [] and archive.hypervolume() == 0.0
    assert {e.trial_id for e in archive.partial} == {"early", "nolat", "nan"}
    assert archive.add("ok", {}, {"accuracy": 0.5, "latency/cpu": 5.0}) is True
    # the early-stopped trial later finishing replaces its partial record
    assert archive.add("early", {}, {"accuracy": 0.6, "latency/cpu": 1.0}) is True
    assert [e.trial_id for e in archive.front()] == ["early"]
    assert {e.trial_id for e in archive.partial} == {"nolat", "nan"}


# ---- persistence ----


def test_json_round_trip_and_resume(tmp_path):
    path = tmp_path / "run" / "pareto.json"
    archive = ParetoArchive(ACC_LAT, path=path)
    archive.add("a", {"arch": {"ops": [1, 2]}}, {"accuracy": 0.5, "latency/cpu": 5.0})
    archive.add("b", {}, {"accuracy": 0.6, "latency/cpu": 6.0})
    archive.add("c", {}, {"accuracy": 0.4, "latency/cpu": 7.0})
    archive.add("s", {}, {"accuracy": 0.3, "latency/cpu": 1.0}, final=False)
    data = json.loads(path.read_text())
    assert data["reference_point"] == [0.0, 10.0]
    assert {o["metric"] for o in data["objectives"]} == {"accuracy", "latency/cpu"}
    assert [r["trial_id"] for r in data["partial"]] == ["s"]

    loaded = ParetoArchive.load(path)
    resumed = ParetoArchive(ACC_LAT, path=path)  # a constructor on an existing file reloads it
    for other in (loaded, resumed):
        assert [e.trial_id for e in other.front()] == ["b", "a"]
        assert other.hypervolume() == pytest.approx(archive.hypervolume())
        assert [e.trial_id for e in other.partial] == ["s"]
        assert other.front()[1].config == {"arch": {"ops": [1, 2]}}
    resumed.add("d", {}, {"accuracy": 0.7, "latency/cpu": 9.0})
    assert [e.trial_id for e in ParetoArchive.load(path).front()] == ["d", "b", "a"]

    with pytest.raises(DppnasError, match="objectives"):
        ParetoArchive([ACC_LAT[0]], path=path)


def test_csv_lists_every_result_with_its_status(tmp_path):
    archive = ParetoArchive(ACC_LAT)
    archive.add("a", {}, {"accuracy": 0.5, "latency/cpu": 5.0, "params": 10})
    archive.add("c", {}, {"accuracy": 0.4, "latency/cpu": 7.0})
    archive.add("s", {}, {"accuracy": 0.3, "latency/cpu": 1.0}, final=False)
    lines = archive.write_csv(tmp_path / "pareto.csv").read_text().splitlines()
    assert lines[0].startswith("trial_id,status,accuracy,latency/cpu")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["a", "front"],
        ["c", "dominated"],
        ["s", "partial"],
    ]


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "pareto.json"
    archive = ParetoArchive(ACC_LAT, path=path)
    archive.add("a", {}, {"accuracy": 0.5, "latency/cpu": 5.0})
    before = path.read_text()

    def half_dump(obj, handle, **kwargs):
        handle.write(json.dumps(obj)[:20])  # a torn write ...
        raise OSError("disk full")  # ... then the crash

    monkeypatch.setattr(archive_module.json, "dump", half_dump)
    with pytest.raises(OSError):
        archive.add("b", {}, {"accuracy": 0.6, "latency/cpu": 4.0})
    assert path.read_text() == before
    assert [e.trial_id for e in ParetoArchive.load(path).front()] == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["pareto.json"]  # temporary file removed


_WRITER = textwrap.dedent(
    """
    import sys
    from dppnas.pareto import Objective, ParetoArchive
    objectives = [Objective(metric="accuracy", mode="max", ref=0.0),
                  Objective(metric="latency/cpu", mode="min", ref=10.0)]
    archive = ParetoArchive(objectives, path=sys.argv[1])
    blob = "x" * 200
    for i in range(4000):
        archive.add(f"t{i}", {"blob": blob}, {"accuracy": i / 4000, "latency/cpu": 1 + i % 7},
                    save=False)
    archive.save()
    print("ready", flush=True)
    i = 0
    while True:  # rewrite the archive forever; the test kills us mid-write
        i += 1
        archive.add(f"n{i}", {"blob": blob}, {"accuracy": 0.5, "latency/cpu": 5.0})
    """
)


def test_a_killed_writer_leaves_a_valid_file(tmp_path):
    """SIGKILL a process that rewrites a large archive in a loop: the file always loads."""
    path = tmp_path / "pareto.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        rng = np.random.default_rng(0)
        for _ in range(3):
            time.sleep(float(rng.uniform(0.05, 0.3)))
            loaded = ParetoArchive.load(path)  # readers never see a torn file either
            assert len(loaded) >= 4000
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    loaded = ParetoArchive.load(path)
    assert len(loaded) >= 4000 and loaded.front()


# ---- crowding distance and selection ----

FRONT = np.array([[0, 10], [5, 9], [6, 8], [8, 1], [10, 0]], dtype=float)  # all non-dominated


def test_crowding_distance_by_hand():
    # ranges are 10 in both objectives; b: (6-0)/10 + (10-8)/10, c: (8-5)/10 + (9-1)/10, ...
    assert crowding_distance(FRONT) == pytest.approx([np.inf, 0.8, 1.1, 1.2, np.inf])
    assert crowding_distance(FRONT[:2]).tolist() == [np.inf, np.inf]


def test_rank_and_crowding_selection_by_hand():
    points = np.vstack([FRONT, [[6, 9], [9, 9]]])  # two dominated points (ranks 1 and 2)
    assert rank_and_crowding_order(points, [False, False]).tolist() == [0, 4, 3, 2, 1, 5, 6]
    assert rank_and_crowding_order(points, [False, False])[:3].tolist() == [0, 4, 3]
    # directions matter: maximising both puts (9, 9) on the front, between the two extremes
    assert rank_and_crowding_order(points, [True, True])[:3].tolist() == [0, 4, 6]


def test_epsilon_net_selection_by_hand():
    # normalised to [0, 1]: seed a (best first objective), then e (farthest), then c
    # (min distance to {a, e} 0.632 beats b's 0.51 and d's 0.224), then d, then b.
    assert epsilon_net_order(FRONT, [False, False]).tolist() == [0, 4, 2, 3, 1]
    assert epsilon_net_order(FRONT, [False, False])[:3].tolist() == [0, 4, 2]


@settings(max_examples=60, deadline=None)
@given(_scenarios(), st.integers(0, 30))
def test_selection_takes_whole_fronts_first(scenario, k):
    maximise, points, _ = scenario
    if not points:
        return
    ranks = non_dominated_rank(np.array(points, float), maximise)
    for order in (rank_and_crowding_order, epsilon_net_order):
        chosen = order(points, maximise)[:k]
        assert len(chosen) == min(k, len(points)) and len(set(chosen.tolist())) == len(chosen)
        rest = np.setdiff1d(np.arange(len(points)), chosen)
        if len(chosen) and len(rest):
            assert ranks[chosen].max() <= ranks[rest].min()


def test_front_figure_draws(tmp_path):
    from dppnas.pareto.plot import front_figure

    archive = ParetoArchive(ACC_LAT)
    archive.add("a", {}, {"accuracy": 0.5, "latency/cpu": 5.0})
    archive.add("c", {}, {"accuracy": 0.4, "latency/cpu": 7.0})
    archive.add("s", {}, {"accuracy": 0.3, "latency/cpu": 1.0}, final=False)
    front_figure(archive).savefig(tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 1000
