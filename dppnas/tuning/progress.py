"""A compact, one-line-per-event progress display for ``dppnas search`` (Tune callback).

Tune's own tables are switched off unless ``--verbose``; this prints trials done / running /
errored and the current front size. Like every callback it must never raise into Tune (an
exception in a callback aborts the whole run), so it logs and carries on.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
from ray.tune import Callback
from ray.tune.utils import flatten_dict

from dppnas.pareto import Objective, hypervolume, non_dominated_mask, objective_values

log = logging.getLogger(__name__)


class ProgressCallback(Callback):
    """Prints ``[elapsed] done/total done, N running, N errored | front K | hv X`` on each event.

    ``hv`` is the hypervolume of the final results' front against the declared reference point
    (objectives turned to minimisation; moocore).
    """

    def __init__(
        self, objectives: Sequence[Objective], total: int, stream: TextIO | None = None
    ) -> None:
        self.objectives = list(objectives)
        self.total = total
        self._stream = stream
        self.start = time.monotonic()
        self.running: set[str] = set()
        self.done: dict[str, dict[str, Any]] = {}
        self.errored: set[str] = set()

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks with the run for Tuner.restore; a stream cannot be pickled.
        state = dict(self.__dict__)
        state["_stream"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A restored run: time counts from this session (another process's monotonic clock
        # means nothing here), and trials running at the snapshot start again (on_trial_start).
        self.__dict__.update(state)
        self.start = time.monotonic()
        self.running = set()

    def get_state(self) -> dict[str, Any]:
        """Saved with each snapshot of the run: the finished trials (``--resume`` counts them;
        errored ones are retried on resume)."""
        return {"done": dict(self.done)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.done = dict(state.get("done", {}))
        self._summary = None

    _summary: tuple[int, float] | None = None  # (front size, hypervolume), reset on completion

    def _front_summary(self) -> tuple[int, float]:
        """Front size and hypervolume of the final results, computed once per completion."""
        if self._summary is None:
            rows = [
                values
                for m in self.done.values()
                if m.get("final") and (values := objective_values(m, self.objectives)) is not None
            ]
            points = np.array(rows, dtype=float).reshape(len(rows), len(self.objectives))
            front = points[non_dominated_mask(points, self.objectives)]
            ref = [o.ref for o in self.objectives]
            maximise = [o.mode == "max" for o in self.objectives]
            self._summary = (len(front), hypervolume(front, ref, maximise))
        return self._summary

    def front_size(self) -> int:
        return self._front_summary()[0]

    def hypervolume(self) -> float:
        """Hypervolume of the final results against the objectives' declared ``ref``."""
        return self._front_summary()[1]

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        size, hv = self._front_summary()
        return (
            f"[{elapsed:7.1f}s] trials {len(self.done)}/{self.total} done, "
            f"{len(self.running)} running, {len(self.errored)} errored | front {size}"
            f" | hv {hv:.4g}"
        )

    def _show(self, completed: bool) -> None:
        """On a terminal, rewrite one line in place; in a log, one line per finished trial."""
        try:
            stream = self.stream
            if getattr(stream, "isatty", lambda: False)():
                end = "\n" if len(self.done) + len(self.errored) >= self.total else ""
                print(f"\r{self.line()}\033[K", end=end, file=stream, flush=True)
            elif completed:
                print(self.line(), file=stream, flush=True)
        except Exception:  # never abort the search for a display problem
            log.exception("progress display failed")

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._show(completed=False)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.done[trial.trial_id] = flatten_dict(dict(trial.last_result or {}))
        self._summary = None
        self._show(completed=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.errored.add(trial.trial_id)
        self._show(completed=True)
