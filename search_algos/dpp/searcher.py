"""DPP-Net as a Ray Tune ``Searcher``: progressive cell search, RNN surrogate, Pareto selection.

DPP-Net (Dong et al., "DPP-Net: Device-aware Progressive Search for Pareto-optimal Neural
Architectures", ECCV 2018), after PNAS (Liu et al., ECCV 2018):

1. Step 1 trains every cell of depth 1, or ``k0`` of them chosen on the device objectives
   (non-dominated sorting, then crowding distance) when ``k0`` is smaller.
2. Each next step fits the accuracy surrogate (:mod:`.surrogate`) on every *final*
   ``(cell, accuracy)`` seen so far, expands every cell kept by the previous step by one
   ``(norm, conv)`` pair over all ops (:mod:`.expansion`; each step's cells are one layer
   deeper than any trained before, so none is suggested twice), predicts the accuracy of all
   candidates in one batched pass, computes their device objectives without training
   (:mod:`.objectives`) and keeps ``k`` by NSGA-II ranking on (predicted accuracy, device
   objectives) (:mod:`.selection`). The ``k`` are suggested; when all have completed, the
   next step starts. After ``max_depth`` the searcher is finished.

Variants: ``selection="accuracy"`` is DPP-Net-PNAS (predicted accuracy alone); one device
objective is DPP-Net-Device; several devices plus size is DPP-Net-Panacea.

Tune contract (DESIGN sections 3 and 7):

* ``metric`` / ``mode`` are lists; one of them is the accuracy (``accuracy_metric``, "max"),
  the others are the device objectives computed for untrained candidates (``params``,
  ``flops``, ``latency/<device>``, ``energy/<device>``) unless ``costs`` computes them.
* Suggestions are ``{"arch": space.encode(cell)}``; Tune merges the other (constant) sections
  of the ``param_space``, whose ``arch`` keys must be the space's decisions.
* Up to ``k`` suggestions are pending at once; ``None`` while a step's trials run;
  ``Searcher.FINISHED`` after the last step.
* Step boundaries: when a step's last trial completes (a result marked ``final`` counts as
  completion: :meth:`on_trial_result`), the next step (surrogate fit, expansion, prediction,
  costing, selection) starts on a background thread, overlapping Tune's own work on that
  completion (callbacks, checkpoints); the next ``suggest`` waits for
  what is left of it rather than answering ``None``: with no trial running, Tune polls a
  searcher that answered ``None`` once a second (``time.sleep(1)``) and, measured here, then
  started the next step's trials one at a time. The outcome is the same as preparing the step
  in ``suggest`` (it reads only the completed step's state).
* Which results count: only a result whose ``final`` is true (or absent: the trainable does not
  use the convention) trains the surrogate. A trial a scheduler stopped counts as completed for
  the step (it was trained; its cell is kept and can be expanded) but its accuracy is recorded,
  not trusted. An errored trial, or one removed before it ran, is dropped and replaced by the
  next candidate in the step's order, so each step still trains ``k`` when it can.
* :meth:`save` / :meth:`restore` keep everything (step, ranked candidates, pending trials,
  kept cells, observations, surrogate weights, cost caches, RNG): a searcher restored into an
  identically constructed one continues identically.
* TensorBoard (``log_dir``): per step the depth, candidates scored, the selected set, the
  scoring and step times (s) and the surrogate's Kendall tau on the step's new results. The
  writer is created lazily and never pickled.
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from dppnas.devices import DeviceModel, make_devices
from dppnas.errors import DppnasError
from dppnas.spaces import Cell, DppSpace, make_space
from search_algos.dpp.expansion import expand, root_cells
from search_algos.dpp.history import StepLog, StepRecord
from search_algos.dpp.objectives import CellCosts, CostMethod, input_shape_of
from search_algos.dpp.selection import SelectionRule, candidate_order
from search_algos.dpp.surrogate import AccuracySurrogate, SurrogateOptions, kendall_tau

logger = logging.getLogger(__name__)

#: ``costs(cells) -> {metric: one value per cell}`` for every device objective
CostFunction = Callable[[Sequence[Cell]], Mapping[str, Sequence[float]]]

_STATE_VERSION = 1


@dataclass
class Observation:
    """A completed trial: its cell, step, objective values found in the result, finality."""

    cell: Cell
    step: int
    values: dict[str, float]
    final: bool


class _Background:
    """``fn()`` on a daemon thread; :meth:`result` waits for it and returns or re-raises."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as err:  # handed to the caller of result()
            self._error = err

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _warm_imports() -> None:
    """Import what the first step boundary needs (torch's optimisers pull in torch._dynamo,
    Kendall's tau scipy.stats: ~3 s together, measured) when the searcher is built, so that
    no step boundary pays for it. On the constructing thread: importing on a second thread
    while the first imports torch could meet Python's import-lock deadlock detection."""
    import scipy.stats  # noqa: F401
    import torch._dynamo  # noqa: F401


@dataclass
class _Step:
    """The step in progress: candidates best first and how far through them we are."""

    depth: int
    queue: list[Cell]
    predicted: list[float] | None
    target: int
    cursor: int = 0
    completed: list[Cell] = field(default_factory=list)
    errored: int = 0
    started: float = field(default_factory=time.time)


class DPPNetSearcher(Searcher):
    """DPP-Net's progressive, device-aware Pareto search over the ``dpp`` cell space.

    Args:
        metric, mode: the objectives (lists; Tune's ``TuneConfig`` metric/mode stay None).
        space: the :class:`~dppnas.spaces.DppSpace` (or its config ``{"name": "dpp", ...}``);
            taken from the ``param_space``'s ``"space"`` section when None.
        k: candidates trained per step after the first (default 8, ours).
        k0: depth-1 cells trained in step 1; None = all of them (PNAS).
        max_depth: last step (cell depth); default the space's ``max_depth``.
        selection: ``"pareto"`` (DPP-Net) or ``"accuracy"`` (DPP-Net-PNAS).
        devices: device models (or an experiment's ``devices`` section) for latency / energy;
            taken from the ``param_space``'s ``"devices"`` section when None.
        input_shape, num_classes: of the dataset, for the candidates' costs; taken from the
            ``param_space``'s ``"data"`` section when None (:func:`.objectives.input_shape_of`).
        costs: computes the device objectives instead of :class:`.objectives.CellCosts`
            (e.g. from a benchmark table); ``costs(cells) -> {metric: values}``.
        cost_method: ``"layers"`` (per-layer cache, default) or ``"network"`` (whole nets).
        surrogate: :class:`.surrogate.SurrogateOptions` (or a mapping of them).
        accuracy_metric: the metric the surrogate predicts (maximised).
        seed: seeds the surrogate and the random choice of ``k0`` cells without costs.
        log_dir: TensorBoard folder; None for no TensorBoard.
    """

    def __init__(
        self,
        metric: Sequence[str] | str | None = None,
        mode: Sequence[str] | str | None = None,
        *,
        space: DppSpace | Mapping[str, Any] | None = None,
        k: int = 8,
        k0: int | None = None,
        max_depth: int | None = None,
        selection: SelectionRule = "pareto",
        devices: Mapping[str, DeviceModel] | Mapping[str, Mapping[str, Any]] | None = None,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        costs: CostFunction | None = None,
        cost_method: CostMethod = "layers",
        surrogate: SurrogateOptions | Mapping[str, Any] | None = None,
        accuracy_metric: str = "accuracy",
        seed: int = 0,
        log_dir: str | Path | None = None,
    ) -> None:
        metric, mode = _as_list(metric), _as_list(mode)
        super().__init__(metric=metric, mode=mode)
        if k < 1:
            raise DppnasError(f"k must be >= 1, got {k}")
        if k0 is not None and k0 < 1:
            raise DppnasError(f"k0 must be >= 1 or None (all depth-1 cells), got {k0}")
        if selection not in ("pareto", "accuracy"):
            raise DppnasError(f"selection must be 'pareto' or 'accuracy', got {selection!r}")
        self.k = int(k)
        self.k0 = None if k0 is None else int(k0)
        self.selection = selection
        self.accuracy_metric = accuracy_metric
        self.seed = int(seed)
        self.cost_method = cost_method
        self.surrogate_options = (
            surrogate
            if isinstance(surrogate, SurrogateOptions)
            else SurrogateOptions.model_validate(dict(surrogate or {}))
        )
        self._log = StepLog(log_dir)
        self._max_depth_arg = max_depth
        self._devices_arg = devices
        self._costs_fn = costs
        self._input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self._num_classes = num_classes
        self.space: DppSpace | None = None
        self.max_depth = 0
        self._cost_model: CellCosts | None = None
        self._surrogate: AccuracySurrogate | None = None
        self._rng = np.random.default_rng(self.seed)
        # search state
        self._step: _Step | None = None
        self._pending: dict[str, Cell] = {}
        self.observations: list[Observation] = []
        self.history: list[StepRecord] = []
        self._finished = False
        self._preparing: _Background | None = None  # the next step, planned off the suggest path
        _warm_imports()  # once per process (then a dictionary lookup)
        if space is not None:
            self._set_space(space)
        if metric:
            self._check_objectives()

    # --- configuration --------------------------------------------------------------------

    def _set_space(self, space: DppSpace | Mapping[str, Any]) -> None:
        if isinstance(space, Mapping):
            space = make_space(space)
        if not isinstance(space, DppSpace):
            raise DppnasError(
                f"the DPP-Net searcher needs the 'dpp' cell space, got {type(space).__name__}"
            )
        depth = space.options.max_depth if self._max_depth_arg is None else self._max_depth_arg
        if not 1 <= depth <= space.options.max_depth:
            raise DppnasError(
                f"max_depth {depth} is outside the space's 1..{space.options.max_depth}"
            )
        self.space, self.max_depth = space, int(depth)
        self._surrogate = AccuracySurrogate(
            space.options.norms, space.options.convs, self.surrogate_options, seed=self.seed
        )

    def _check_objectives(self) -> None:
        metrics, modes = self._metric or [], self._mode or []
        if len(metrics) != len(modes):
            raise DppnasError(f"metric {metrics} and mode {modes} need one entry each")
        if self.accuracy_metric not in metrics:
            raise DppnasError(
                f"the DPP-Net searcher predicts {self.accuracy_metric!r}, which is not among "
                f"its metrics {metrics} (set accuracy_metric or add it)"
            )
        if modes[metrics.index(self.accuracy_metric)] != "max":
            raise DppnasError(f"{self.accuracy_metric!r} must be maximised (mode 'max')")

    @property
    def cost_metrics(self) -> list[str]:
        """The objectives computed for untrained candidates (all but the accuracy)."""
        return [m for m in (self._metric or []) if m != self.accuracy_metric]

    @property
    def _cost_maximise(self) -> list[bool]:
        return [
            mode == "max"
            for m, mode in zip(self._metric or [], self._mode or [], strict=True)
            if m != self.accuracy_metric
        ]

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """Take Tune's ``param_space``: check its ``arch`` and fill what was not given."""
        if metric and not self._metric:
            self._metric, self._mode = _as_list(metric), _as_list(mode or "max")
        if self._metric:
            self._check_objectives()
        if self.space is None:
            if not isinstance(config.get("space"), Mapping):
                raise DppnasError(
                    "the DPP-Net searcher needs its space: pass space=... or put the space's "
                    'config under "space" in the param_space'
                )
            self._set_space(config["space"])
        if "arch" not in config or not isinstance(config["arch"], Mapping):
            raise DppnasError(
                'the DPP-Net searcher suggests {"arch": {...}}: the param_space needs an '
                '"arch" section with the dpp space\'s decisions (space.tune_space())'
            )
        expected = [d.name for d in self.space.decisions]
        if sorted(config["arch"]) != sorted(expected):
            raise DppnasError(
                f"param_space['arch'] has keys {sorted(config['arch'])}, but the dpp space "
                f"(max_depth {self.space.options.max_depth}) decides {expected}"
            )
        unresolved = _search_domains({k: v for k, v in config.items() if k != "arch"})
        if unresolved:
            raise DppnasError(
                f"the DPP-Net searcher decides only the 'arch' section; param_space entries "
                f"{', '.join(unresolved)} are search domains it would leave unresolved (make "
                f"them constants)"
            )
        if self._devices_arg is None and isinstance(config.get("devices"), Mapping):
            self._devices_arg = config["devices"]
        if self._input_shape is None and isinstance(config.get("data"), Mapping):
            self._input_shape, self._num_classes = input_shape_of(config["data"])
        return True

    def use_costs(self, costs: CostFunction) -> None:
        """Compute the device objectives of untrained candidates with ``costs`` (e.g. the
        measured values of a benchmark table) instead of the device models."""
        self._costs_fn = costs
        self._cost_model = None

    def _costs(self, cells: Sequence[Cell]) -> np.ndarray:
        """``(n, len(cost_metrics))`` device objectives of untrained cells."""
        metrics = self.cost_metrics
        if not metrics:
            return np.zeros((len(cells), 0))
        if self._costs_fn is not None:
            values = self._costs_fn(cells)
            missing = [m for m in metrics if m not in values]
            if missing:
                raise DppnasError(f"the costs function gave no value for {missing}")
            return np.column_stack([np.asarray(values[m], dtype=float) for m in metrics])
        if self._cost_model is None:
            self._cost_model = self._make_cost_model()
        return self._cost_model.matrix(cells)

    def _make_cost_model(self) -> CellCosts:
        if self._input_shape is None or self._num_classes is None:
            raise DppnasError(
                'the DPP-Net searcher needs input_shape and num_classes (or a "data" '
                "section in the param_space) to cost untrained candidates"
            )
        devices = dict(self._devices_arg or {})
        if devices and not all(isinstance(d, DeviceModel) for d in devices.values()):
            devices = make_devices(devices)
        return CellCosts(
            self.space,
            self._input_shape,
            self._num_classes,
            devices,
            self.cost_metrics,
            self.cost_method,
        )

    # --- the Searcher contract ------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._finished:
            return Searcher.FINISHED
        if self.space is None or not self._metric:
            raise DppnasError(
                "the DPP-Net searcher has no space or no metric: pass space= and metric=/mode= "
                "lists, or run it in a Tuner whose param_space holds them"
            )
        if self._step is None:
            self._start_step(1)
        while True:
            step = self._step
            if len(step.completed) + len(self._pending) < step.target:
                cell = self._next_candidate()
                if cell is not None:
                    self._pending[trial_id] = cell
                    return {"arch": self.space.encode(cell)}
            if self._pending:
                return None  # the step's trials are running
            self._finish_step()
            if step.depth >= self.max_depth or not step.completed:
                if not step.completed:
                    logger.warning("DPP-Net: no trial of step %d completed; stopping", step.depth)
                self._finished = True
                return Searcher.FINISHED
            self._start_step(step.depth + 1)

    def _prepare_next_step(self) -> None:
        """Start planning the step after the completed one on a background thread."""
        step = self._step
        if self._preparing is None and step.completed and step.depth < self.max_depth:
            self._preparing = _Background(lambda: self._plan_step(step.depth + 1))

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A result marked ``final`` completes its trial here, one round trip before Tune
        reports the trial complete: a step's last final result starts the next step at once,
        so Tune already holds the next step's trials when the last trial's actor is released
        and keeps that actor for them (otherwise it keeps one idle actor at most and the next
        step runs on fewer). The later ``on_trial_complete`` finds the trial done and ignores
        it."""
        if result.get("final") is True:
            self.on_trial_complete(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        cell = self._pending.pop(trial_id, None)
        if cell is None or self._step is None:
            return
        if error or result is None:
            # dropped; suggest() hands out the next candidate of the step's order instead
            self._step.errored += 1
            return
        final = bool(result.get("final", True))
        values = {}
        for metric in self._metric or []:
            value = _lookup(result, metric)
            if value is not None:
                values[metric] = value
        self.observations.append(Observation(cell, self._step.depth, values, final))
        self._step.completed.append(cell)
        if len(self._step.completed) >= self._step.target and not self._pending:
            self._finish_step()  # now, in case Tune asks for no more trials (num_samples)
            self._prepare_next_step()

    # --- steps ----------------------------------------------------------------------------

    def _next_candidate(self) -> Cell | None:
        step = self._step
        if step.cursor >= len(step.queue):
            return None
        step.cursor += 1
        return step.queue[step.cursor - 1]

    def _start_step(self, depth: int) -> None:
        """Make step ``depth`` current: the one prepared in the background, or plan it now."""
        preparing, self._preparing = self._preparing, None
        step, record = self._plan_step(depth) if preparing is None else preparing.result()
        self._step = step
        self.history.append(record)
        logger.info(
            "DPP-Net step %d: %d candidates scored, %d selected (%.2f s)",
            depth,
            record.candidates,
            step.target,
            record.scoring_seconds,
        )
        self._log.step_scored(record)

    def _settle(self) -> None:
        """Install a step prepared in the background (before saving the state)."""
        if self._preparing is not None:
            self._start_step(self._step.depth + 1)

    def __getstate__(self) -> dict[str, Any]:
        self._settle()  # a thread cannot be pickled; its outcome can
        return self.__dict__.copy()

    def _plan_step(self, depth: int) -> tuple[_Step, StepRecord]:
        """Step ``depth``'s candidates in selection order, and its record. Reads the search
        state, changes only the surrogate (re-fit), the cost caches and the RNG."""
        start = time.perf_counter()
        o = self.space.options
        fit_seconds = 0.0
        if depth == 1:
            candidates = root_cells(o.norms, o.convs)
            target = len(candidates) if self.k0 is None else min(self.k0, len(candidates))
            predicted = None
            if target < len(candidates):
                if self.cost_metrics:
                    order = candidate_order(
                        None, self._costs(candidates), self._cost_maximise, "pareto"
                    )
                else:
                    order = self._rng.permutation(len(candidates))
            else:
                order = np.arange(len(candidates))
        else:
            fit_seconds = self._fit_surrogate()
            parents = self._kept_cells()
            candidates = expand(parents, o.norms, o.convs)
            target = min(self.k, len(candidates))
            predicted = self._predict(candidates)
            costs = (
                self._costs(candidates)
                if self.selection == "pareto" and self.cost_metrics
                else None
            )
            order = candidate_order(predicted, costs, self._cost_maximise, self.selection)
        queue = [candidates[i] for i in order]
        ranked = None if predicted is None else [float(predicted[i]) for i in order]
        record = StepRecord(
            step=depth,
            candidates=len(candidates),
            selected=[str(c) for c in queue[:target]],
            predicted=None if ranked is None else ranked[:target],
            scoring_seconds=time.perf_counter() - start,
            fit_seconds=fit_seconds,
        )
        return _Step(depth, queue, ranked, target), record

    def _kept_cells(self) -> list[Cell]:
        """The previous step's completed cells, in that step's order (deterministic)."""
        done = set(self._step.completed)
        return [c for c in self._step.queue if c in done]

    def _training_set(self) -> tuple[list[Cell], list[float]]:
        """Every final observation with an accuracy, in a canonical order (cell tokens)."""
        seen: dict[Cell, float] = {}
        for obs in self.observations:
            value = obs.values.get(self.accuracy_metric)
            if obs.final and value is not None and math.isfinite(value):
                seen[obs.cell] = value
        cells = sorted(seen, key=lambda c: c.tokens())
        return cells, [seen[c] for c in cells]

    def _fit_surrogate(self) -> float:
        start = time.perf_counter()
        cells, accuracies = self._training_set()
        if cells:
            self._surrogate.fit(cells, accuracies)
        else:
            logger.warning(
                "DPP-Net: no final result to fit the surrogate on; ranking on costs only"
            )
        return time.perf_counter() - start

    def _predict(self, cells: Sequence[Cell]) -> np.ndarray | None:
        if not self._surrogate.fitted:
            return None
        mean, _ = self._surrogate.predict(cells)
        return mean

    def _finish_step(self) -> None:
        """Close the step's record: wall time, trained count and the surrogate's tau."""
        step, record = self._step, self.history[-1]
        if record.step_seconds is not None:
            return
        record.step_seconds = time.time() - step.started
        record.trained = len(step.completed)
        record.errored = step.errored
        if step.predicted is not None:
            predicted = dict(zip(step.queue, step.predicted, strict=True))
            pairs = [
                (predicted[obs.cell], obs.values[self.accuracy_metric])
                for obs in self.observations
                if obs.step == step.depth and obs.final and self.accuracy_metric in obs.values
            ]
            if len(pairs) >= 2:
                tau = kendall_tau([p for p, _ in pairs], [m for _, m in pairs])
                record.kendall_tau = None if math.isnan(tau) else tau
        self._log.step_done(record)

    # --- persistence ----------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        self._settle()
        step = self._step
        return {
            "version": _STATE_VERSION,
            "space": None if self.space is None else self.space.config(),
            "settings": self._settings(),
            "metric": self._metric,
            "mode": self._mode,
            "step": None
            if step is None
            else {
                "depth": step.depth,
                "queue": [c.tokens() for c in step.queue],
                "predicted": step.predicted,
                "target": step.target,
                "cursor": step.cursor,
                "completed": [c.tokens() for c in step.completed],
                "errored": step.errored,
                "started": step.started,
            },
            "pending": {tid: c.tokens() for tid, c in self._pending.items()},
            "observations": [
                {"cell": o.cell.tokens(), "step": o.step, "values": o.values, "final": o.final}
                for o in self.observations
            ],
            "history": [asdict(r) for r in self.history],
            "finished": self._finished,
            "surrogate": None if self._surrogate is None else self._surrogate.state_dict(),
            "costs": None if self._cost_model is None else self._cost_model.state_dict(),
            "input": (self._input_shape, self._num_classes),
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != _STATE_VERSION:
            raise DppnasError(f"unknown DPP-Net searcher state version {state.get('version')}")
        if self._preparing is not None:
            self._preparing.result()  # let it finish; the restored state replaces its outcome
            self._preparing = None
        if state["space"] is not None:
            if self.space is None:
                self._set_space(state["space"])
            elif self.space.config() != state["space"]:
                raise DppnasError("the saved DPP-Net state is for another dpp space")
        if state["settings"] != self._settings():
            raise DppnasError(
                f"the saved DPP-Net state was made with {state['settings']}, "
                f"not {self._settings()}; construct the searcher with the same settings"
            )
        self._metric, self._mode = state["metric"], state["mode"]
        saved = state["step"]
        self._step = (
            None
            if saved is None
            else _Step(
                depth=saved["depth"],
                queue=[Cell.from_tokens(t) for t in saved["queue"]],
                predicted=saved["predicted"],
                target=saved["target"],
                cursor=saved["cursor"],
                completed=[Cell.from_tokens(t) for t in saved["completed"]],
                errored=saved["errored"],
                started=saved["started"],
            )
        )
        self._pending = {tid: Cell.from_tokens(t) for tid, t in state["pending"].items()}
        self.observations = [
            Observation(Cell.from_tokens(o["cell"]), o["step"], dict(o["values"]), o["final"])
            for o in state["observations"]
        ]
        self.history = [StepRecord(**r) for r in state["history"]]
        self._finished = state["finished"]
        if state["surrogate"] is not None and self._surrogate is not None:
            self._surrogate.load_state_dict(state["surrogate"])
        shape, classes = state["input"]
        if self._input_shape is None and shape is not None:
            self._input_shape, self._num_classes = tuple(shape), classes
        if state["costs"] is not None and self._costs_fn is None:
            self._cost_model = self._make_cost_model()
            self._cost_model.load_state_dict(state["costs"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]

    def _settings(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "k0": self.k0,
            "max_depth": self.max_depth,
            "selection": self.selection,
            "accuracy_metric": self.accuracy_metric,
            "seed": self.seed,
            "cost_method": self.cost_method,
            "surrogate": self.surrogate_options.model_dump(),
        }

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    @property
    def log_dir(self) -> Path | None:
        """The TensorBoard folder (None: no TensorBoard)."""
        return self._log.log_dir

    @property
    def finished(self) -> bool:
        """Whether every step is done (suggest() returns ``Searcher.FINISHED``)."""
        return self._finished

    def planned_trials(self) -> int:
        """Trials the searcher suggests when none errors: k0 (or all depth-1 cells), then k
        per step (fewer where a step has fewer candidates). Tune's num_samples should be at
        least this."""
        if self.space is None:
            raise DppnasError("planned_trials needs the space")
        o = self.space.options
        n1 = len(o.norms) * len(o.convs)
        first = n1 if self.k0 is None else min(self.k0, n1)
        return first + self.k * (self.max_depth - 1)


def _as_list(value: Sequence[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _search_domains(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the Tune search domains (``tune.choice``, ...) inside ``config``."""
    from ray.tune.search.sample import Domain

    found = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Domain) or (isinstance(value, Mapping) and "grid_search" in value):
            found.append(path)
        elif isinstance(value, Mapping):
            found += _search_domains(value, f"{path}.")
    return found


def _lookup(result: Mapping[str, Any], metric: str) -> float | None:
    """``result[metric]`` as a finite float; nested ``{"latency": {"dev": x}}`` works too."""
    value: Any = result.get(metric)
    if value is None and "/" in metric:
        value = result
        for part in metric.split("/"):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None
