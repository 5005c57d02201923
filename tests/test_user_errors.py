"""Malformed input of every kind gets one line on stderr, exit code 2, no traceback, and leaves
what was already written as it was (property tests: hypothesis generates the inputs).

Every CLI call here is ``dppnas.cli.main(argv)`` in-process and fails before Ray would start.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dppnas.cli import main
from dppnas.config import load_experiment
from dppnas.errors import ConfigError, DppnasError

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: a valid experiment the tests break one piece at a time (no Ray: each fails before it)
BASE: dict = {
    "name": "broken",
    "dataset": {"name": "digits"},
    "space": {"name": "dpp", "max_depth": 1, "cells_per_stage": [1], "growth": [4]},
    "searcher": {"name": "random"},
    "objectives": [
        {"metric": "accuracy", "mode": "max", "ref": 0.0},
        {"metric": "latency/r", "mode": "min", "ref": 5.0},
    ],
    "devices": {"r": {"kind": "roofline", "spec": "cortex-a53"}},
    "train": {"epochs": 1},
    "scheduler": {"name": "moasha"},
    "num_samples": 2,
    "resources": {"cpu": 1},
}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``dppnas ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # --help / --version only
            code = int(stop.code or 0)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dppnas: error: "), err
    assert "usage:" not in err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with a hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---- strategies ----------------------------------------------------------------------------

junk_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
junk = st.recursive(
    junk_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping/list, the root excluded."""
    found = []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        found.append((*prefix, key))
        found += _paths(inner, (*prefix, key))
    return found


EXPERIMENT_PATHS = _paths(BASE)


@st.composite
def broken_experiments(draw) -> object:
    """BASE with one value replaced by junk, one key dropped, or one unknown key added."""
    data = json.loads(json.dumps(BASE))
    path = draw(st.sampled_from(EXPERIMENT_PATHS))
    *parents, last = path
    holder = data
    for key in parents:
        holder = holder[key]
    action = draw(st.sampled_from(["replace", "drop", "add"]))
    if action == "replace":
        holder[last] = draw(junk)
    elif action == "drop" and isinstance(holder, dict):
        del holder[last]
    elif isinstance(holder, dict):
        holder[draw(st.text(min_size=1, max_size=8))] = draw(junk)
    return data


# ---- experiment files ------------------------------------------------------------------------


@FAST
@given(broken_experiments())
def test_a_broken_experiment_validates_or_fails_in_one_line(tmp_path, data):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_experiment(path)
    except ConfigError:
        pass
    else:
        return  # still valid (e.g. an optional key dropped): nothing to check without Ray
    code, _, err = run_cli(["search", str(path)])
    assert_one_line_error(code, err)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_as_an_experiment_file(tmp_path, raw):
    path = tmp_path / "experiment.yaml"
    path.write_bytes(raw)
    assert_one_line_error(*run_cli(["search", str(path)])[::2])


def _alias_bomb(key: str) -> str:
    """An experiment whose ``key`` (inside ``space`` anchors 9**9 strings if expanded) is a
    YAML alias bomb; PyYAML keeps aliases shared, so the document itself is small."""
    anchors = ['  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        anchors.append(f"  {name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    rest = {k: v for k, v in BASE.items() if k not in ("space", key)}
    return "space:\n  name: dpp\n" + "\n".join(anchors) + f"\n{key}: *i\n" + yaml.safe_dump(rest)


@pytest.mark.parametrize("key", ["seed", "num_samples", "storage_path"])
def test_an_alias_bomb_fails_fast_without_rendering_the_input(tmp_path, key):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(key))
    data = yaml.safe_load(path.read_text())
    assert key in data
    start = time.monotonic()
    code, _, err = run_cli(["search", str(path)])
    assert time.monotonic() - start < 10
    assert_one_line_error(code, err)
    assert "expands to more than 100,000 values" in err and len(err) < 400


def test_an_error_shows_a_bounded_description_of_a_large_value(tmp_path):
    big = {"name": "dpp", "max_depth": [[i] * 50 for i in range(1000)]}  # 50,000 values
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({**BASE, "space": big}))
    code, _, err = run_cli(["search", str(path)])
    assert_one_line_error(code, err)
    assert "space.max_depth" in err and len(err) < 300


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"train": {"lr": float("inf")}}, "train.lr: must be a finite number"),
        ({"train": {"momentum": float("nan")}}, "train.momentum: must be a finite number"),
        ({"devices": {"r": {"kind": ["roofline"]}}}, "devices.r.kind: expected a device kind"),
        ({"scheduler": {"name": "moasha", "time_attr": "no_such_attr"}}, "scheduler.time_attr"),
        ({"scheduler": {"name": "moasha", "grace_period": 5}}, "scheduler: grace_period"),
        ({"space": {"name": "dpp", "growth": [float("inf")]}}, "space.growth.0: must be finite"),
    ],
)
def test_values_that_would_fail_later_are_refused_at_load(tmp_path, change, where):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({**BASE, **change}))
    with pytest.raises(ConfigError) as caught:
        load_experiment(path)
    assert where.split(":")[0] in str(caught.value)


# ---- data files ------------------------------------------------------------------------------


def _npz_variants() -> st.SearchStrategy[bytes]:
    def npy(raw: bytes) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, np.frombuffer(raw.ljust(8, b"\0")[:8], dtype=np.uint8))
        return buffer.getvalue()

    def torn_zip(raw: bytes) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.arange(4))
        whole = buffer.getvalue()
        return whole[: max(4, len(raw) % len(whole))]

    def objects(raw: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            inner = io.BytesIO()
            np.save(inner, np.array([raw, None], dtype=object), allow_pickle=True)
            archive.writestr("x_train.npy", inner.getvalue())
        return buffer.getvalue()

    raw = st.binary(max_size=200)
    return st.one_of(raw, raw.map(npy), raw.map(torn_zip), raw.map(objects))


@FAST
@given(_npz_variants())
def test_a_broken_npz_dataset_is_one_line(tmp_path, raw):
    data = tmp_path / "data.npz"
    data.write_bytes(raw)
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({**BASE, "dataset": {"name": "npz", "path": str(data)}}))
    code, _, err = run_cli(["search", str(path)])
    assert_one_line_error(code, err)
    assert "allow_pickle" not in err


def test_npy_given_as_npz_and_random_bytes_say_what_they_are(tmp_path):
    from dppnas.data import load_dataset

    npy = tmp_path / "a.npz"
    np.save(tmp_path / "a.npy", np.zeros(3))
    (tmp_path / "a.npy").rename(npy)
    with pytest.raises(DppnasError, match="single .npy array, not an .npz archive"):
        load_dataset({"name": "npz", "path": str(npy)})
    noise = tmp_path / "b.npz"
    noise.write_bytes(bytes(range(256)) * 3)
    with pytest.raises(DppnasError, match="is not an .npz archive"):
        load_dataset({"name": "npz", "path": str(noise)})
    nan = tmp_path / "c.npz"
    np.savez(nan, x_train=np.full((20, 8, 8), np.nan, np.float32), y_train=np.arange(20) % 2)
    with pytest.raises(DppnasError, match="x_train holds NaN or infinite values"):
        load_dataset({"name": "npz", "path": str(nan)})


@FAST
@given(st.binary(max_size=400), st.sampled_from(["garbage", "truncated gzip", "gzip of garbage"]))
def test_corrupt_fashion_mnist_files_are_one_line(tmp_path, raw, damage):
    from dppnas.data.fashion_mnist import FILES

    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    idx = b"\0\0\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28)) + raw
    content = {
        "garbage": raw,
        "truncated gzip": gzip.compress(idx)[: len(raw) // 4 + 10],
        "gzip of garbage": gzip.compress(raw),
    }[damage]
    for stem in FILES.values():
        (folder / f"{stem}.gz").write_bytes(content)
    path = tmp_path / "e.yaml"
    dataset = {"name": "fashion-mnist", "root": str(folder)}
    path.write_text(yaml.safe_dump({**BASE, "dataset": dataset}))
    assert_one_line_error(*run_cli(["search", str(path)])[::2])


# ---- measurement CSVs, tables ----------------------------------------------------------------


@FAST
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: ("arch,latency_ms\n" + t).encode("utf-8", "replace")),
        st.just("arch,latency_ms\n{},1\n".encode("utf-16")),
    )
)
def test_a_broken_measurements_csv_is_one_line_and_writes_nothing(tmp_path, raw):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    csv = folder / "m.csv"
    csv.write_bytes(raw)
    out = folder / "spec.yaml"
    out.write_text("kept: true\n")
    before = snapshot(folder)
    argv = ["calibrate", "--device", "cortex-a53", "--measurements", str(csv), "--space", "dpp"]
    code, _, err = run_cli([*argv, "--input-shape", "1,8,8", "--out", str(out)])
    assert_one_line_error(code, err)
    assert snapshot(folder) == before


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_a_garbage_table_is_one_line(tmp_path, raw, gzipped):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    table = folder / "t.json.gz"
    table.write_bytes(gzip.compress(raw) if gzipped else raw)
    lut = folder / "t.lut.json"
    lut.write_bytes(raw)
    out = folder / "results.json"
    out.write_text("{}")
    before = snapshot(folder)
    code, _, err = run_cli(
        [
            "bench",
            "compare",
            "--table",
            str(table),
            "--budget",
            "2",
            "--seeds",
            "1",
            "--out",
            str(out),
        ]
    )
    assert_one_line_error(code, err)
    assert_one_line_error(*run_cli(["devices", str(lut)])[::2])
    assert snapshot(folder) == before


def test_a_well_formed_table_with_wrong_content_is_one_line(tmp_path):
    for data in ({}, {"name": "x", "objectives": [], "entries": []}, [1, 2], {"entries": [{}]}):
        table = tmp_path / "t.json.gz"
        table.write_bytes(gzip.compress(json.dumps(data).encode()))
        args = ["bench", "compare", "--table", str(table), "--budget", "2", "--seeds", "1"]
        assert_one_line_error(*run_cli([*args, "--out", str(tmp_path / "r.json")])[::2])


@FAST
@given(
    st.one_of(
        st.binary(max_size=300),
        junk.map(lambda j: json.dumps(j, allow_nan=True).encode()),
        junk.map(lambda j: json.dumps({"objectives": j, "entries": j}, allow_nan=True).encode()),
    ),
    st.sampled_from(["report", "export", "retrain"]),
)
def test_a_damaged_run_archive_is_one_line_and_changes_nothing(tmp_path, raw, command):
    run = Path(tempfile.mkdtemp(dir=tmp_path))
    (run / "pareto.json").write_bytes(raw)
    before = snapshot(run)
    argv = {
        "report": ["report", str(run)],
        "export": ["export", str(run), "--rank", "0", "--format", "torchscript", "--out",
                   str(run / "m.pt")],
        "retrain": ["retrain", str(run), "--rank", "0", "--epochs", "1"],
    }[command]  # fmt: skip
    assert_one_line_error(*run_cli(argv)[::2])
    assert snapshot(run) == before


def test_devices_with_a_missing_table_exits_2(tmp_path):
    assert_one_line_error(*run_cli(["devices", str(tmp_path / "none.lut.json")])[::2])


# ---- output paths ----------------------------------------------------------------------------

OUTPUT_COMMANDS = {
    "profile": lambda out: ["profile", "--space", "dpp", "--out", out],
    "latency-eval": lambda out: ["latency-eval", "--space", "dpp", "--device-file", "T", "--out", out],
    "compare": lambda out: [
        "bench", "compare", "--table", "fashion-dpp", "--searchers", "random", "--budget", "2",
        "--seeds", "1", "--out", out,
    ],
    "export": lambda out: ["export", "RUN", "--rank", "0", "--format", "onnx", "--out", out],
    "calibrate": lambda out: [
        "calibrate", "--device", "cortex-a53", "--measurements", "m.csv", "--space", "dpp",
        "--out", out,
    ],
    "report": lambda out: ["report", "RUN", "--out", out],
}  # fmt: skip


@FAST
@given(
    st.sampled_from(sorted(OUTPUT_COMMANDS)),
    st.sampled_from(["a folder", "below a file", "below a file, deeper"]),
    st.text(alphabet="abcxyz_-.", min_size=1, max_size=8).filter(lambda t: t not in (".", "..")),
)
def test_an_unwritable_output_path_is_one_line_and_changes_nothing(tmp_path, command, kind, name):
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    (folder / "file").write_text("precious\n")
    (folder / "dir").mkdir()
    (folder / "dir" / "inside").write_text("kept\n")
    (folder / "RUN").mkdir()
    (folder / "RUN" / "pareto.json").write_text("{}")
    out = {
        "a folder": folder / "dir",
        "below a file": folder / "file" / name,
        "below a file, deeper": folder / "file" / name / "out.json",
    }[kind]
    assume(not (command == "report" and kind == "a folder"))  # a folder is what report wants
    before = snapshot(folder)
    argv = [
        str(folder / a) if a in ("RUN", "T", "m.csv") else a
        for a in OUTPUT_COMMANDS[command](str(out))
    ]
    code, _, err = run_cli(argv)
    assert_one_line_error(code, err)
    assert snapshot(folder) == before


def test_bench_compare_checks_its_out_before_any_run(tmp_path):
    (tmp_path / "file").write_text("x")
    start = time.monotonic()
    args = ["bench", "compare", "--table", "fashion-dpp", "--searchers", "random", "--budget", "20"]
    code, _, err = run_cli([*args, "--out", str(tmp_path / "file" / "results.json")])
    assert_one_line_error(code, err)
    assert "is a file, not a folder" in err and time.monotonic() - start < 30


def test_a_storage_path_that_is_a_file_fails_before_ray(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({**BASE, "storage_path": str(tmp_path / "runs")}))
    code, _, err = run_cli(["search", str(path)])
    assert_one_line_error(code, err)
    assert "storage_path" in err


# ---- the command line itself -----------------------------------------------------------------


@FAST
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["search", "bench", "compare", "--out", "--budget", "-o", "--rank", "x"]
            ),
            st.text(alphabet="-abz=1", max_size=6),
        ),
        max_size=4,
    )
)
def test_argument_errors_are_one_line_without_usage(argv):
    assume(not any(a in ("-h", "--help", "--version") for a in argv))
    code, _, err = run_cli(argv)
    if code == 2:
        assert_one_line_error(code, err)


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"dppnas {version('dppnas')}"
