"""Measured latencies of every architecture of a space on many devices: the references of a
few-shot model and the data of ``dppnas latency-transfer``.

Read from a shipped benchmark table whose entries carry ``latency/<device>`` metrics (e.g.
``nb201-hw``) or from a CSV in the ``nb201-hw`` layout (``arch`` = NB201 cell string,
``latency_ms/<device>`` columns; ``../shared/data/nb201/README.md``).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.devices.fewshot import CONNECTED_FEATURE, LIVE_PREFIX, op_counts
from dppnas.errors import DppnasError

#: NB201's edge decisions in cell-string order and its op that costs nothing
NB201_EDGE_NAMES = ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")
NB201_COST_FREE_OP = "none"


@dataclass(frozen=True)
class ReferenceLatencies:
    """Architectures (decision -> choice), their free features, and latency (ms) per device."""

    archs: list[dict[str, Any]]
    features: dict[str, np.ndarray]
    latencies: dict[str, np.ndarray]
    source: str
    #: the row of an architecture (``None`` when the table does not hold it)
    row_of: Callable[[Mapping[str, Any]], int | None]

    @property
    def devices(self) -> list[str]:
        return sorted(self.latencies)


def nb201_arch(cell: str) -> dict[str, str]:
    """An NB201 cell string as the ``nb201`` space's decisions (``edge_1_0`` ... ``edge_3_2``)."""
    ops = [edge.split("~")[0] for node in cell.split("+") for edge in node.strip("|").split("|")]
    if len(ops) != len(NB201_EDGE_NAMES):
        raise DppnasError(f"{cell!r} is not an NB201 cell string (6 edges)")
    return dict(zip(NB201_EDGE_NAMES, ops, strict=True))


def nb201_live_features(archs: list[dict[str, Any]], choices: list[str]) -> dict[str, np.ndarray]:
    """``live/<op>`` (edges of each op on a path from the cell's input to its output, the only
    ones a runtime that folds constants and drops dead code still runs) and ``connected`` (1
    when the cell's output depends on its input at all, 0 for a cell a folding runtime reduces
    to a constant: raspi4 and pixel3 report ~0.01 ms for those) of NB201 ``archs``."""
    from dppnas.nn.nb201 import live_edges

    live = [live_edges([a[e] for e in NB201_EDGE_NAMES]) for a in archs]
    features = {
        f"{LIVE_PREFIX}{op}": np.array(
            [
                sum(a[e] == op and on for e, on in zip(NB201_EDGE_NAMES, x, strict=True))
                for a, x in zip(archs, live, strict=True)
            ],
            dtype=float,
        )
        for op in choices
    }
    features[CONNECTED_FEATURE] = np.array([float(any(x)) for x in live])
    return features


def _free_features(
    archs: list[dict[str, Any]], extra: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Op counts (``ops/<choice>``) of ``archs`` plus the table's ``extra`` columns; for NB201
    cells with dead edges (a table of raw encodings, not canonical ones) also the live-op
    counts and ``connected`` (:func:`nb201_live_features`)."""
    choices = sorted({v for a in archs for v in a.values() if isinstance(v, str)})
    # the counts of all choices sum to the number of decisions: leave the cost-free one out
    choices = [c for c in choices if c != NB201_COST_FREE_OP] or choices
    features = op_counts(archs, choices)
    if archs and all(set(a) == set(NB201_EDGE_NAMES) for a in archs):
        live = nb201_live_features(archs, choices)
        # canonical encodings (every dead edge ``none``, as in ``nb201-hw``): live counts are
        # the op counts; leave the copies out rather than fit the same model twice
        if any(
            not np.array_equal(live[f"{LIVE_PREFIX}{c}"], features[f"ops/{c}"]) for c in choices
        ):
            features.update(live)
    return {**features, **extra}


def _from_csv(path: Path) -> ReferenceLatencies:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        raise DppnasError(f"{path}: cannot read the latency table: {err}") from None
    columns = [c for c in (rows[0] if rows else {}) if c.startswith("latency_ms/")]
    if not rows or "arch" not in rows[0] or not columns:
        raise DppnasError(
            f"{path}: expected a CSV with an arch column (NB201 cell string) and "
            f"latency_ms/<device> columns"
        )
    try:
        archs = [nb201_arch(r["arch"]) for r in rows]
        latencies = {c.split("/", 1)[1]: np.array([float(r[c]) for r in rows]) for c in columns}
        extra = {
            k: np.array([float(r[k]) for r in rows]) for k in ("flops", "params") if k in rows[0]
        }
    except ValueError as err:
        raise DppnasError(f"{path}: {err}") from None
    index = {_exact_key(a): i for i, a in enumerate(archs)}
    return ReferenceLatencies(
        archs,
        _free_features(archs, extra),
        latencies,
        str(path),
        lambda arch: index.get(_exact_key(arch)),
    )


def _exact_key(arch: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(arch.items()))


def table_references(table: Any) -> ReferenceLatencies:
    """The architectures, free features and ``latency/<device>`` columns of a loaded
    :class:`~dppnas.bench.table.BenchmarkTable` (rows in entry order)."""
    names = table.metric_names
    devices = [n.split("/", 1)[1] for n in names if n.startswith("latency/")]
    if not devices:
        raise DppnasError(f"table {table.name}: no latency/<device> metrics to transfer between")
    archs = [dict(e.arch) for e in table.entries]
    extra = {k: table.values(k) for k in ("flops", "params") if k in names}
    latencies = {d: table.values(f"latency/{d}") for d in devices}

    def row_of(arch: Mapping[str, Any]) -> int | None:
        try:
            return table.lookup(arch).index  # any encoding: canonicalised by the table's space
        except (DppnasError, KeyError, ValueError, TypeError):
            return None

    return ReferenceLatencies(archs, _free_features(archs, extra), latencies, table.source, row_of)


def load_reference_latencies(name_or_path: str) -> ReferenceLatencies:
    """A shipped table by name (``nb201-hw``) or a CSV file (``.csv`` / ``.csv.gz``)."""
    path = Path(name_or_path).expanduser()
    if path.name.endswith((".csv", ".csv.gz")):
        if not path.is_file():
            raise DppnasError(f"--table: {path} not found")
        return _from_csv(path)
    from dppnas.bench.table import load_table

    return table_references(load_table(name_or_path))
