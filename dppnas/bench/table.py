"""A tabular benchmark: every architecture of a space with its measured metrics.

Tables ship in ``dppnas/bench/data/NAME.json.gz``. A table declares its **metrics** (name,
direction, unit and reference value: the metric's worst value over the table) and its
**default objectives**; a run may pick any of its metrics as objectives
(:meth:`BenchmarkTable.with_objectives`). Two layouts load:

* ``dppnas bench build`` tables (``fashion-*``): a list of entries, each with validation
  accuracy after every epoch (0-1), test accuracy, params, FLOPs per image and local-CPU
  latency (ms); their declared objectives keep the reference point they were built with.
* columnar tables (``format: dppnas-table/2``, e.g. ``nb201-hw`` from
  ``scripts/build_nb201_table.py``): ``archs`` plus one column per metric, ``accuracy`` the
  search signal after the table's full budget.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.errors import DppnasError
from dppnas.pareto import Objective, indicators, non_dominated_mask

DATA_DIR = Path(__file__).parent / "data"
#: the layout of columnar tables
COLUMNAR_FORMAT = "dppnas-table/2"
#: metrics of a ``dppnas bench build`` table: (name, direction, unit)
BUILT_METRICS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "max", "0-1"),
    ("test_accuracy", "max", "0-1"),
    ("params", "min", "parameters"),
    ("flops", "min", "FLOPs per image"),
    ("latency/local-cpu", "min", "ms"),
)


def available_tables() -> list[str]:
    """Names of the tables shipped in the package."""
    return sorted(p.name.removesuffix(".json.gz") for p in DATA_DIR.glob("*.json.gz"))


@dataclass(frozen=True)
class Metric:
    """A metric of a table: ``mode`` max/min, ``ref`` its worst value over the table."""

    name: str
    mode: str
    ref: float
    unit: str = ""
    description: str = ""

    def objective(self) -> Objective:
        return Objective(metric=self.name, mode=self.mode, ref=self.ref)


@dataclass(frozen=True)
class TableEntry:
    """One architecture: its (canonical) ``arch``, validation accuracy after each epoch
    (0-1; one value when the table has only the full budget's) and its other metrics' values
    (``values``: test accuracy, params, FLOPs per image, latencies in ms ...)."""

    index: int
    arch: dict[str, Any]
    val_accuracy: tuple[float, ...]
    values: Mapping[str, float]

    @property
    def epochs(self) -> int:
        return len(self.val_accuracy)

    @property
    def test_accuracy(self) -> float:
        return self.values["test_accuracy"]

    @property
    def params(self) -> int:
        return int(self.values["params"])

    @property
    def flops(self) -> int:
        return int(self.values["flops"])

    @property
    def latency_ms(self) -> float:
        """``latency/local-cpu`` (ms) of a table measured on this machine's CPU."""
        return self.values["latency/local-cpu"]

    def metrics(self, epoch: int | None = None) -> dict[str, Any]:
        """The flattened metrics a trial reports after ``epoch`` epochs (default: all);
        ``test_accuracy`` is not among them (a trial reports it once, at the end)."""
        epoch = self.epochs if epoch is None else epoch
        out: dict[str, Any] = {"accuracy": self.val_accuracy[epoch - 1]}
        out |= {k: v for k, v in self.values.items() if k != "test_accuracy"}
        return out


class BenchmarkTable:
    """A loaded table: metrics, lookup by architecture, objectives, reference point and
    true front."""

    def __init__(self, data: Mapping[str, Any], source: str = "") -> None:
        from dppnas.spaces import make_space

        self.source = source
        self.name: str = data["name"]
        self.meta = {k: v for k, v in data.items() if k not in ("entries", "archs", "columns")}
        self.space = make_space(data["recipe"]["space"])
        self._decision_names = [d.name for d in self.space.decisions]
        if data.get("format") == COLUMNAR_FORMAT:
            self._load_columnar(data)
        else:
            self._load_built(data)
        self._index = {self._key(e.arch): e.index for e in self.entries}

    def _key(self, canonical: Mapping[str, Any]) -> tuple[Any, ...]:
        """Index key of a canonical architecture: its choices in decision order."""
        return tuple(canonical[name] for name in self._decision_names)

    def _load_built(self, data: Mapping[str, Any]) -> None:
        raw = data["entries"]
        self.entries = [
            TableEntry(
                index=i,
                arch=e["arch"],
                val_accuracy=tuple(e["val_accuracy"]),
                values={
                    "test_accuracy": e["test_accuracy"],
                    "params": e["params"],
                    "flops": e["flops"],
                    "latency/local-cpu": e["latency_ms"],
                },
            )
            for i, e in enumerate(raw)
        ]
        self._columns = {"accuracy": np.array([e.val_accuracy[-1] for e in self.entries])}
        for name, *_ in BUILT_METRICS[1:]:
            self._columns[name] = np.array([e.values[name] for e in self.entries], dtype=float)
        self.metrics = {
            name: Metric(name, mode, _worst(self._columns[name], mode), unit)
            for name, mode, unit in BUILT_METRICS
        }
        # built tables keep the reference point declared at build time (their figures use it)
        self.objectives = [Objective(**o) for o in data["objectives"]]

    def _load_columnar(self, data: Mapping[str, Any]) -> None:
        columns = {k: np.asarray(v, dtype=float) for k, v in data["columns"].items()}
        self.metrics = {m["name"]: Metric(**m) for m in data["metrics"]}
        missing = set(self.metrics) - set(columns)
        if missing or "accuracy" not in self.metrics:
            raise DppnasError(f"table {self.name}: no column for metric(s) {sorted(missing)}")
        self._columns = {name: columns[name] for name in self.metrics}
        names = [d.name for d in self.space.decisions]
        others = [n for n in self.metrics if n != "accuracy"]
        plain = {n: data["columns"][n] for n in self.metrics}  # ints stay ints
        self.entries = [
            TableEntry(
                index=i,
                arch=dict(zip(names, arch, strict=True)),
                val_accuracy=(plain["accuracy"][i],),
                values=_Row(plain, others, i),
            )
            for i, arch in enumerate(data["archs"])
        ]
        self.objectives = [self.metrics[n].objective() for n in data["default_objectives"]]

    # --- metrics ------------------------------------------------------------------------------

    @property
    def metric_names(self) -> list[str]:
        """Every metric of the table, in declaration order."""
        return list(self.metrics)

    def values(self, metric: str) -> np.ndarray:
        """The final value of ``metric`` for every entry, in entry order (a copy)."""
        if metric not in self._columns:
            raise DppnasError(
                f"table {self.name}: no metric {metric!r} (metrics: {', '.join(self.metrics)})"
            )
        return self._columns[metric].copy()

    def with_objectives(self, names: Sequence[str]) -> BenchmarkTable:
        """This table with ``names`` (metrics of the table) as objectives, each with its
        declared reference value (the metric's worst over the table)."""
        if len(names) < 2:
            raise DppnasError("objectives: name at least two metrics of the table")
        unknown = [n for n in names if n not in self.metrics]
        if unknown:
            raise DppnasError(
                f"objectives: {', '.join(unknown)} not a metric of table {self.name} "
                f"(metrics: {', '.join(self.metrics)})"
            )
        if len(set(names)) != len(names):
            raise DppnasError(f"objectives: {', '.join(names)} names a metric twice")
        view = copy.copy(self)
        view.objectives = [self.metrics[n].objective() for n in names]
        view.__dict__.pop("true_front_hv", None)
        view.__dict__.pop("_true_front_mask", None)
        return view

    @property
    def epochs(self) -> int:
        return self.entries[0].epochs

    @property
    def reference_point(self) -> list[float]:
        return [o.ref for o in self.objectives]

    @property
    def maximise(self) -> list[bool]:
        return [o.mode == "max" for o in self.objectives]

    # --- lookup -------------------------------------------------------------------------------

    def lookup(self, arch: Mapping[str, Any]) -> TableEntry:
        """The entry of ``arch`` (any encoding of it: canonicalised through the space)."""
        canonical = self.space.encode(self.space.decode(arch))
        try:
            return self.entries[self._index[self._key(canonical)]]
        except KeyError:
            raise DppnasError(f"table {self.name}: no entry for architecture {canonical}") from None

    def cell_costs(self, genotypes: Sequence[Any]) -> dict[str, list[float]]:
        """Every metric but accuracy and test accuracy (params, FLOPs, latencies in ms) of
        ``genotypes``, as measured for the table: DPP-Net's costs of untrained candidates."""
        rows = [self.lookup(self.space.encode(g)) for g in genotypes]
        names = [n for n in self.metrics if n not in ("accuracy", "test_accuracy")]
        return {m: [float(r.values[m]) for r in rows] for m in names}

    # --- fronts and indicators ----------------------------------------------------------------

    def points(self, entries: Sequence[TableEntry] | None = None) -> np.ndarray:
        """(n, m) objective values at the full budget, in objective order."""
        columns = np.stack([self._columns[o.metric] for o in self.objectives], axis=1)
        if entries is None:
            return columns
        return columns[np.fromiter((e.index for e in entries), dtype=int, count=len(entries))]

    @functools.cached_property
    def _true_front_mask(self) -> np.ndarray:
        return non_dominated_mask(self.points(), self.objectives)

    def true_front(self) -> np.ndarray:
        """The non-dominated points of the whole table (the limit a searcher can reach)."""
        return self.points()[self._true_front_mask]

    def true_front_entries(self) -> list[TableEntry]:
        """The entries on the true front (ties: every entry with a front point's values)."""
        return [e for e, on in zip(self.entries, self._true_front_mask, strict=True) if on]

    def hypervolume(self, points: np.ndarray) -> float:
        """Hypervolume of ``points`` against the table's declared reference point (moocore)."""
        return indicators.hypervolume(points, self.reference_point, self.maximise)

    def igd_plus(self, points: np.ndarray) -> float:
        """IGD+ of ``points`` to the true front, in units normalised by the reference box."""
        if len(points) == 0:
            return float("inf")
        front = indicators.to_minimisation(self.true_front(), self.maximise)
        lo = front.min(axis=0)
        hi = indicators.to_minimisation(np.asarray(self.reference_point), self.maximise)
        scale = np.where(hi - lo > 0, hi - lo, 1.0)
        ours = (indicators.to_minimisation(points, self.maximise) - lo) / scale
        return indicators.igd_plus(ours, (front - lo) / scale, [False] * len(self.objectives))

    @functools.cached_property
    def true_front_hv(self) -> float:
        return self.hypervolume(self.true_front())


class _Row(Mapping[str, float]):
    """One entry's values of a columnar table, read from its columns (no copy per entry)."""

    __slots__ = ("_columns", "_names", "_i")

    def __init__(self, columns: Mapping[str, list[float]], names: list[str], i: int) -> None:
        self._columns, self._names, self._i = columns, names, i

    def __getitem__(self, name: str) -> float:
        if name not in self._names:
            raise KeyError(name)
        return self._columns[name][self._i]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _worst(values: np.ndarray, mode: str) -> float:
    return float(values.min() if mode == "max" else values.max())


@functools.lru_cache(maxsize=8)
def load_table(name_or_path: str) -> BenchmarkTable:
    """A shipped table by name (``fashion-dpp``, ``nb201-hw``) or a ``.json.gz`` file by path
    (cached)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DATA_DIR / f"{name_or_path}.json.gz"
    if not path.is_file():
        shipped = ", ".join(available_tables()) or "none yet"
        raise DppnasError(
            f"table {name_or_path!r} not found (shipped tables: {shipped}); build one with "
            f"`dppnas bench build`"
        )
    with gzip.open(path, "rt") as f:
        return BenchmarkTable(json.load(f), source=str(path))
