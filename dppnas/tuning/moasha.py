"""MO-ASHA: multi-objective asynchronous successive halving as a Ray Tune scheduler.

Schmucker et al. 2021 ("Multi-objective multi-fidelity hyperparameter optimization with
application to fairness"); Salinas et al. 2021 for the epsilon-net priority. Ray Tune's own
schedulers take one metric; this one takes a list, like dppnas' searchers (TuneConfig's
metric/mode stay None). The rung decision itself lives in :mod:`dppnas.tuning.rungs`.
"""

from __future__ import annotations

import logging
import numbers
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from dppnas.pareto.objectives import finite_values
from dppnas.pareto.selection import Selection
from dppnas.tuning.rungs import STOP, Rungs, rung_milestones

log = logging.getLogger(__name__)


class MOASHA(FIFOScheduler):
    """Stop-based asynchronous successive halving ranking by Pareto dominance.

    Args:
        metric: the objectives' metric names (flattened Tune keys, e.g. ``latency/local-cpu``).
        mode: ``"min"``/``"max"`` per metric (one string applies to all).
        time_attr: the monotonically increasing budget key (``training_iteration`` = epochs).
        max_t: the full budget in ``time_attr`` units; a trial reaching it is stopped.
        grace_period: the first rung; no trial is stopped before it.
        reduction_factor: eta; a trial continues past a rung if it is in the top 1/eta there.
        selection: ``"nsga2"`` (non-dominated rank, then crowding distance; Deb et al. 2002)
            or ``"epsnet"`` (non-dominated rank, then epsilon-net; Salinas et al. 2021).

    Results missing a metric (or with a non-finite value) are ignored: the trial continues.
    """

    def __init__(
        self,
        metric: Sequence[str] | None = None,
        mode: Sequence[str] | str | None = None,
        time_attr: str = "training_iteration",
        max_t: float = 100,
        grace_period: float = 1,
        reduction_factor: float = 3,
        selection: Selection = "nsga2",
    ) -> None:
        super().__init__()
        if selection not in ("nsga2", "epsnet"):
            raise ValueError(f"selection must be 'nsga2' or 'epsnet', got {selection!r}")
        if grace_period > max_t:
            raise ValueError(f"grace_period ({grace_period}) must be <= max_t ({max_t})")
        self._time_attr = time_attr
        self._warned_time_attr = False
        self._max_t = max_t
        self._reduction_factor = reduction_factor
        self._selection: Selection = selection
        self._milestones = rung_milestones(grace_period, reduction_factor, max_t)
        self._metrics: list[str] = []
        self._modes: list[str] = []
        self._rungs: Rungs | None = None
        self._num_stopped = 0
        if metric is not None:
            self._set_objectives(metric, mode)

    # ---- objectives ----

    def _set_objectives(
        self, metric: Sequence[str] | str, mode: Sequence[str] | str | None
    ) -> None:
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if mode is None or isinstance(mode, str):
            modes = [mode or "min"] * len(metrics)
        else:
            modes = list(mode)
        if not metrics or len(modes) != len(metrics):
            raise ValueError(f"MOASHA needs one mode per metric, got {metrics} and {modes}")
        if any(m not in ("min", "max") for m in modes):
            raise ValueError(f"every mode must be 'min' or 'max', got {modes}")
        self._metrics, self._modes = metrics, modes
        self._rungs = Rungs(
            self._milestones, [m == "max" for m in modes], self._reduction_factor, self._selection
        )

    @property
    def metrics(self) -> list[str]:
        return list(self._metrics)

    @property
    def milestones(self) -> list[float]:
        return list(self._milestones)

    def set_search_properties(self, metric: Any, mode: Any, **spec: Any) -> bool:
        """Accept Tune's TuneConfig metric/mode (None for dppnas) unless we already have ours."""
        if metric is None and mode is None:
            return True
        if self._metrics:
            return False  # Tune then says: metric given twice
        if metric is not None:
            self._set_objectives(metric, mode)
        return True

    # ---- Tune hooks ----

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        if self._rungs is None:
            raise ValueError(
                "MOASHA has no objectives: pass metric=[...] and mode=[...] when creating it "
                "(TuneConfig's metric/mode take one string only)"
            )

    def on_trial_result(self, tune_controller: Any, trial: Any, result: Mapping) -> str:
        """Stop at ``max_t``; at a new rung, continue only in the rung's top 1/eta."""
        t, vector = self._read(result)
        if t is None:
            if not self._warned_time_attr:
                self._warned_time_attr = True
                log.warning(
                    "MOASHA: a result of trial %s has no number %r (time_attr); such results "
                    "never stop a trial",
                    trial.trial_id,
                    self._time_attr,
                )
            return TrialScheduler.CONTINUE
        if t >= self._max_t:
            return TrialScheduler.STOP
        if vector is None:
            return TrialScheduler.CONTINUE
        assert self._rungs is not None
        decision = self._rungs.on_result(str(trial.trial_id), t, vector)
        if decision == STOP:
            self._num_stopped += 1
            log.debug("MOASHA stops trial %s at %s=%s", trial.trial_id, self._time_attr, t)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: Mapping) -> None:
        """Record a finished trial's last vector at its rung (as ASHA does); no decision."""
        t, vector = self._read(result)
        if t is not None and vector is not None and self._rungs is not None:
            self._rungs.on_result(str(trial.trial_id), t, vector)

    def _read(self, result: Mapping) -> tuple[float | None, list[float] | None]:
        """``(t, objective vector)`` of a flattened result; None for what is missing."""
        t = result.get(self._time_attr)
        if isinstance(t, bool) or not isinstance(t, numbers.Real):
            return None, None
        vector = finite_values(result, self._metrics) if self._metrics else None
        return float(t), vector

    # ---- state ----

    def debug_string(self) -> str:
        rungs = self._rungs.describe() if self._rungs else "no objectives yet"
        return f"Using MOASHA ({self._selection}): num_stopped={self._num_stopped}; {rungs}"

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))
