"""The Pareto archive of a search: every final result, its front, hypervolume and IGD+.

Results made on the full budget (``final``) are compared; results of trials stopped early
(``final`` false, DESIGN section 3) are kept apart on a partial list and never enter the front.
The archive persists as JSON, written atomically, and reloads when constructed on an existing
file (``--resume``).
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import moocore
import numpy as np
from numpy.typing import ArrayLike

from dppnas.atomic import atomic_writer
from dppnas.errors import DppnasError, short_text
from dppnas.pareto import indicators
from dppnas.pareto.objectives import Objective, objective_values

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ARCHIVE_FILE = "pareto.json"  # its name in a run folder


@dataclass
class ArchiveEntry:
    """One trial's result: flattened metrics (``latency/local-cpu``) and its config."""

    trial_id: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    final: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # free-form (e.g. why it is partial)


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested result dicts flattened with ``/`` as Tune does (``latency/local-cpu``)."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


class ParetoArchive:
    """Final results, their non-dominated front and its indicators, over ``objectives``.

    ``path`` (a ``.json`` file) makes the archive persistent: an existing file is loaded (its
    objectives must match), and every :meth:`add` rewrites it atomically. Hypervolume is
    measured against the objectives' declared ``ref`` values, never against the results.
    """

    def __init__(self, objectives: Sequence[Objective], path: str | Path | None = None) -> None:
        if not objectives:
            raise ValueError("an archive needs at least one objective")
        self.objectives = [Objective.model_validate(o) for o in objectives]
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, ArchiveEntry] = {}  # final results with every objective
        self._partial: dict[str, ArchiveEntry] = {}  # non-final (or incomplete) results
        self._rows: dict[str, np.ndarray] = {}  # objective vectors, minimisation form
        self._front_ids: list[str] = []
        self._front_set: set[str] = set()
        self._front_rows = np.zeros((0, len(self.objectives)))
        self._sorted_front: list[ArchiveEntry] | None = None  # caches, reset with the front
        self._hypervolume: float | None = None
        if self.path is not None and self.path.exists():
            self._load_into(self.path)

    # ---- objectives ----

    @property
    def maximise(self) -> list[bool]:
        return [o.mode == "max" for o in self.objectives]

    @property
    def reference_point(self) -> np.ndarray:
        """The declared reference point, in the objectives' own directions."""
        return np.array([o.ref for o in self.objectives], dtype=float)

    # ---- adding results ----

    def add(
        self,
        trial_id: str,
        config: Mapping[str, Any],
        metrics: Mapping[str, Any],
        final: bool = True,
        save: bool = True,
    ) -> bool:
        """Record a trial's result; True when it is on the front afterwards.

        ``metrics`` may be nested or flattened (``latency/local-cpu``). A trial added again
        replaces its earlier result. Non-final results, and final ones missing (or with
        non-finite) objective values, go to the partial list and return False. ``save=False``
        skips rewriting the file (bulk inserts; call :meth:`save` at the end).
        """
        trial_id = str(trial_id)
        flat = flatten_metrics(metrics)
        values = objective_values(flat, self.objectives)
        entry = ArchiveEntry(trial_id, dict(config), flat, bool(final))
        replaced = self._discard(trial_id)
        if final and values is not None:
            self._entries[trial_id] = entry
            row = indicators.to_minimisation(np.array(values), self.maximise)
            self._rows[trial_id] = row
            if replaced:
                self._rebuild_front()
            else:
                self._update_front(trial_id, row)
        else:
            if final:
                missing = [o.metric for o in self.objectives if o.metric not in flat]
                log.warning("trial %s: no usable value for %s; kept as partial", trial_id, missing)
                entry.extra["reason"] = "missing objective values"
            self._partial[trial_id] = entry
            if replaced:
                self._rebuild_front()
        self._autosave(save)
        return trial_id in self._front_set

    def remove(self, trial_ids: Iterable[str], save: bool = True) -> list[str]:
        """Forget the results of ``trial_ids``; returns the ids that were held (the file is
        rewritten when any was, unless ``save=False``)."""
        held = [str(t) for t in trial_ids if str(t) in self]
        removed_final = [self._discard(t) for t in held]
        if any(removed_final):
            self._rebuild_front()
        if held:
            self._autosave(save)
        return held

    def _discard(self, trial_id: str) -> bool:
        """Forget an earlier result of ``trial_id``; True when it was a final entry."""
        self._partial.pop(trial_id, None)
        self._rows.pop(trial_id, None)
        return self._entries.pop(trial_id, None) is not None

    def _update_front(self, trial_id: str, row: np.ndarray) -> None:
        # The new front is the non-dominated part of (old front + new point): whatever the old
        # front dominated stays dominated. Weak non-dominance keeps duplicates on the front.
        # A dominated newcomer dominates no front point (dominance is transitive): no change.
        rows = np.vstack([self._front_rows, row])
        mask = moocore.is_nondominated(rows, keep_weakly=True)
        if not mask[-1]:
            return
        self._set_front([*self._front_ids, trial_id], rows, mask)

    def _rebuild_front(self) -> None:
        ids = list(self._rows)
        rows = np.array([self._rows[t] for t in ids]).reshape(len(ids), len(self.objectives))
        mask = moocore.is_nondominated(rows, keep_weakly=True) if ids else np.zeros(0, bool)
        self._set_front(ids, rows, mask)

    def _set_front(self, ids: list[str], rows: np.ndarray, mask: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        self._front_ids = [t for t, keep in zip(ids, mask, strict=True) if keep]
        self._front_rows = rows[mask]
        self._front_set = set(self._front_ids)
        self._sorted_front = None
        self._hypervolume = None

    # ---- views ----

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self._entries or trial_id in self._partial

    @property
    def entries(self) -> list[ArchiveEntry]:
        """Final results, in insertion order."""
        return list(self._entries.values())

    @property
    def partial(self) -> list[ArchiveEntry]:
        """Results that never enter the front (stopped early, or missing objectives)."""
        return list(self._partial.values())

    def on_front(self, trial_id: str) -> bool:
        return trial_id in self._front_set

    def front(self) -> list[ArchiveEntry]:
        """The non-dominated final results, best first by the first objective."""
        if self._sorted_front is None:
            first = self.objectives[0]
            front = [self._entries[t] for t in self._front_ids]
            front.sort(key=lambda e: e.metrics[first.metric], reverse=first.mode == "max")
            self._sorted_front = front
        return list(self._sorted_front)

    def points(self, front_only: bool = False) -> np.ndarray:
        """Objective values ``(n, m)`` of the final results (or the front), own directions."""
        if front_only:
            rows = self._front_rows
        else:
            rows = np.array(list(self._rows.values())).reshape(-1, len(self.objectives))
        return indicators.to_minimisation(rows, self.maximise)

    def hypervolume(self) -> float:
        """Hypervolume of the front against the declared reference point (moocore).

        Objectives are turned to minimisation; the unit is the product of the objectives'
        units (e.g. accuracy x ms). Points not strictly better than the reference add nothing.
        """
        if self._hypervolume is None:  # computed once per change of the front
            self._hypervolume = 0.0
            if len(self._front_rows):
                ref = indicators.to_minimisation(self.reference_point, self.maximise)
                self._hypervolume = float(moocore.hypervolume(self._front_rows, ref=ref))
        return self._hypervolume

    def igd_plus(self, reference_front: ArrayLike) -> float:
        """IGD+ of the front to a known ``reference_front`` (rows in objective order, own units)."""
        return indicators.igd_plus(self.points(front_only=True), reference_front, self.maximise)

    # ---- persistence ----

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "objectives": [o.model_dump() for o in self.objectives],
            "reference_point": self.reference_point.tolist(),
            "hypervolume": self.hypervolume(),
            "front": list(self._front_ids),
            "entries": [asdict(e) for e in self._entries.values()],
            "partial": [asdict(e) for e in self._partial.values()],
        }

    def save(self, path: str | Path | None = None) -> Path:
        """Write the archive as JSON atomically (temporary file, fsync, rename)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("this archive has no path; pass one to save()")
        with atomic_writer(target) as handle:
            json.dump(self.to_dict(), handle, indent=1, default=_jsonable)
        return target

    def _autosave(self, save: bool) -> None:
        if save and self.path is not None:
            self.save()

    @classmethod
    def load(cls, path: str | Path) -> ParetoArchive:
        """The archive saved at ``path``, with the objectives it was saved with."""
        data = _read(Path(path))
        try:
            archive = cls([Objective.model_validate(o) for o in data["objectives"]])
            archive._fill(data)
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # edited or foreign
            raise DppnasError(
                f"{path}: malformed Pareto archive ({type(err).__name__}: "
                f"{short_text(str(err).splitlines()[0] if str(err) else '', 80)})"
            ) from None
        archive.path = Path(path)
        return archive

    def _load_into(self, path: Path) -> None:
        data = _read(path)
        saved = [Objective.model_validate(o) for o in data["objectives"]]
        if saved != self.objectives:
            raise DppnasError(
                f"{path}: this archive was written for objectives "
                f"{_describe(saved)}, not {_describe(self.objectives)}; "
                f"keep the run's original objectives or start a new run"
            )
        self._fill(data)

    def _fill(self, data: Mapping[str, Any]) -> None:
        for row in data.get("entries", []):
            self.add(row["trial_id"], row["config"], row["metrics"], final=True, save=False)
        for row in data.get("partial", []):
            entry = ArchiveEntry(**row)
            self._partial[entry.trial_id] = entry

    def write_csv(self, path: str | Path) -> Path:
        """One row per result (atomically): trial, status (front / dominated / partial),
        the objectives, then training_iteration, params and flops where reported."""
        path = Path(path)
        columns = [o.metric for o in self.objectives]
        columns += [c for c in ("training_iteration", "params", "flops") if c not in columns]
        with atomic_writer(path, newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["trial_id", "status", *columns])
            for entry in self._entries.values():
                status = "front" if self.on_front(entry.trial_id) else "dominated"
                writer.writerow([entry.trial_id, status, *_cells(entry, columns)])
            for entry in self._partial.values():
                writer.writerow([entry.trial_id, "partial", *_cells(entry, columns)])
        return path


def _cells(entry: ArchiveEntry, columns: Sequence[str]) -> list[Any]:
    return [entry.metrics.get(c, "") for c in columns]


def _describe(objectives: Sequence[Objective]) -> str:
    return ", ".join(f"{o.metric} ({o.mode}, ref {o.ref:g})" for o in objectives)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise DppnasError(
            f"{path}: cannot read the Pareto archive ({short_text(str(err), 100)})"
        ) from None
    if not isinstance(data, dict) or "objectives" not in data:
        raise DppnasError(f"{path}: not a Pareto archive (no 'objectives' key)")
    return data


def _jsonable(value: Any) -> Any:
    """numpy scalars and other leftovers of a Tune result, made JSON-able."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)
