"""A tabular benchmark: every architecture of a reduced space with its measured metrics.

Tables ship in ``dppnas/bench/data/NAME.json.gz`` (built by ``dppnas bench build``); each
entry holds the architecture, validation accuracy after every epoch (0-1), final test
accuracy, params, FLOPs per image and local-CPU latency (ms, median of rounds). The table's
metadata declares its objectives and the fixed reference point for hypervolume.
"""

from __future__ import annotations

import functools
import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.bench.enumerate import arch_key
from dppnas.errors import DppnasError, short_text
from dppnas.pareto import Objective, indicators, non_dominated_mask

DATA_DIR = Path(__file__).parent / "data"


def available_tables() -> list[str]:
    """Names of the tables shipped in the package."""
    return sorted(p.name.removesuffix(".json.gz") for p in DATA_DIR.glob("*.json.gz"))


@dataclass(frozen=True)
class TableEntry:
    arch: dict[str, Any]
    val_accuracy: tuple[float, ...]
    test_accuracy: float
    params: int
    flops: int
    latency_ms: float

    @property
    def epochs(self) -> int:
        return len(self.val_accuracy)

    def metrics(self, epoch: int | None = None) -> dict[str, Any]:
        """The flattened metrics a trial reports after ``epoch`` epochs (default: all)."""
        epoch = self.epochs if epoch is None else epoch
        return {
            "accuracy": self.val_accuracy[epoch - 1],
            "params": self.params,
            "flops": self.flops,
            "latency/local-cpu": self.latency_ms,
        }


class BenchmarkTable:
    """A loaded table: lookup by architecture, objectives, reference point and true front."""

    def __init__(self, data: Mapping[str, Any], source: str = "") -> None:
        self.source = source
        self.name: str = data["name"]
        self.meta = {k: v for k, v in data.items() if k != "entries"}
        self.objectives = [Objective(**o) for o in data["objectives"]]
        self.entries = [
            TableEntry(
                arch=e["arch"],
                val_accuracy=tuple(e["val_accuracy"]),
                test_accuracy=e["test_accuracy"],
                params=e["params"],
                flops=e["flops"],
                latency_ms=e["latency_ms"],
            )
            for e in data["entries"]
        ]
        if not self.entries or any(not e.val_accuracy for e in self.entries):
            raise DppnasError("no entries, or an entry without validation accuracies")
        self._index = {arch_key(e.arch): i for i, e in enumerate(self.entries)}
        from dppnas.spaces import make_space

        self.space = make_space(data["recipe"]["space"])

    @property
    def epochs(self) -> int:
        return self.entries[0].epochs

    @property
    def reference_point(self) -> list[float]:
        return [o.ref for o in self.objectives]

    def lookup(self, arch: Mapping[str, Any]) -> TableEntry:
        """The entry of ``arch`` (any encoding of it: canonicalised through the space)."""
        canonical = self.space.encode(self.space.decode(arch))
        try:
            return self.entries[self._index[arch_key(canonical)]]
        except KeyError:
            raise DppnasError(f"table {self.name}: no entry for architecture {canonical}") from None

    def cell_costs(self, cells: Sequence[Any]) -> dict[str, list[float]]:
        """Device objectives (params, FLOPs, latency/local-cpu in ms) of ``dpp`` cells, as
        measured for the table: DPP-Net's costs of untrained candidates (``costs=``)."""
        rows = [self.lookup(self.space.encode(cell)).metrics() for cell in cells]
        return {m: [float(r[m]) for r in rows] for m in ("params", "flops", "latency/local-cpu")}

    def points(self, entries: list[TableEntry] | None = None) -> np.ndarray:
        """(n, m) objective values at the full budget, in objective order."""
        entries = self.entries if entries is None else entries
        rows = [e.metrics() for e in entries]
        return np.array([[r[o.metric] for o in self.objectives] for r in rows], dtype=float)

    def true_front(self) -> np.ndarray:
        """The non-dominated points of the whole table (the limit a searcher can reach)."""
        points = self.points()
        return points[non_dominated_mask(points, self.objectives)]

    @property
    def maximise(self) -> list[bool]:
        return [o.mode == "max" for o in self.objectives]

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


@functools.lru_cache(maxsize=8)
def load_table(name_or_path: str) -> BenchmarkTable:
    """A shipped table by name (``fashion-dpp``) or a ``.json.gz`` file by path (cached)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = DATA_DIR / f"{name_or_path}.json.gz"
    if not path.is_file():
        shipped = ", ".join(available_tables()) or "none yet"
        raise DppnasError(
            f"table {name_or_path!r} not found (shipped tables: {shipped}); build one with "
            f"`dppnas bench build`"
        )
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        raise DppnasError(
            f"table {path}: not a benchmark table (a gzipped JSON file written by "
            f"`dppnas bench build`), or damaged"
        ) from None
    try:
        return BenchmarkTable(data, source=str(path))
    except DppnasError as err:
        raise DppnasError(f"table {path}: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise DppnasError(
            f"table {path}: malformed benchmark table ({type(err).__name__}: "
            f"{short_text(str(err), 80)})"
        ) from None
