"""DPP-Net as a Ray Tune ``Searcher``: the thin adapter around :mod:`.steps`.

DPP-Net (Dong et al., "DPP-Net: Device-aware Progressive Search for Pareto-optimal Neural
Architectures", ECCV 2018), after PNAS (Liu et al., ECCV 2018), on any categorical space: a
growth rule (:mod:`.growth`) gives the first step and how an architecture grows by one step;
:func:`.steps.plan_step` ranks each step's candidates on predicted accuracy and the costs of
untrained candidates (:mod:`.costs`). This class hands the first ``k`` out, feeds results back
and starts the next step when a step's trials are done. ``selection="accuracy"`` is
DPP-Net-PNAS; one device objective DPP-Net-Device; several devices and size DPP-Net-Panacea.

Tune contract (DESIGN sections 3 and 7, :mod:`search_algos.base`): every search domain of the
``param_space`` is a decision of the rule (constants pass through); up to ``k`` suggestions
pend at once, ``None`` while a step's trials run, ``Searcher.FINISHED`` after the last step;
no architecture twice (``arch_key``). A non-``final`` result never trains the surrogate; an
errored trial is replaced by the next candidate. TensorBoard (``log_dir``): per step the
depth, candidates, the selected set, times (s) and the surrogate's Kendall tau.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ray.tune.search import Searcher

from dppnas.errors import DppnasError
from dppnas.spaces import SearchSpace, make_space
from search_algos.base import ArchKey, MultiObjectiveSearcher, accuracy_metric_of, is_final
from search_algos.decisions import ARCH_KEY, ControllerDecision, decisions_of
from search_algos.dpp.costs import CandidateCosts, CostFunction
from search_algos.dpp.growth import GrowthRule, check_decisions, make_growth
from search_algos.dpp.history import StepLog, StepRecord
from search_algos.dpp.objectives import CostMethod, input_shape_of
from search_algos.dpp.selection import ParentRule, SelectionRule
from search_algos.dpp.steps import Observation, Step, StepSettings, plan_step, step_kendall_tau
from search_algos.dpp.surrogate import AccuracySurrogate, SurrogateOptions

logger = logging.getLogger(__name__)

#: the search state :meth:`DPPNetSearcher.get_state` saves as it is
_STATE_FIELDS = [
    "_metric",
    "_mode",
    "_step",
    "_pending",
    "_suggested",
    "observations",
    "history",
    "_finished",
]


#: the settings a saved state must have been made with (beside the rule and the surrogate's)
_SETTINGS = ("k", "k0", "max_depth", "selection", "grow_through_repeats", "accuracy_metric")


class DPPNetSearcher(MultiObjectiveSearcher):
    """DPP-Net's progressive, device-aware Pareto search on any categorical space.

    Args:
        metric, mode: the objectives (lists; Tune's ``TuneConfig`` metric/mode stay None).
        costs: ``costs(configs) -> {metric: [float, ...]}``: the cost objectives of untrained
            candidates, one list per cost metric in the order of ``configs`` (the candidates'
            searched decisions, as the trainable receives them). Default: dppnas device models
            on a dppnas space (``devices``, ``input_shape``).
        growth: ``"dpp"``, ``"monas"``, ``"nb201"``, ``"prefix"`` or a
            :class:`~.growth.GrowthRule`; default the dppnas space's rule, else ``"prefix"``.
        order, base: ``prefix``'s decision order (names or groups of names) and the value each
            decision holds until it is grown (default: its first choice).
        k: candidates trained per step after the first (default 8, ours).
        k0: step-1 architectures trained; None = all of them (PNAS).
        max_depth: the last step; default the rule's last.
        selection: ``"pareto"`` (DPP-Net) or ``"accuracy"`` (DPP-Net-PNAS).
        parents: the trained architectures each step grows: ``"front"`` (default, ours) the
            ``k`` best so far (:func:`.steps.beam`), ``"step"`` the previous step's (PNAS).
        grow_through_repeats: repeats of suggested networks grow on in their place, and too
            few children widen the beam (:func:`.steps.grow`); False: the paper's form.
        accuracy_metric: the metric the surrogate predicts; default the one maximised.
        arch_key: ``arch_key(config) -> key`` equal for equivalent configs; default the dppnas
            space's canonical encoding, else the config itself.
        space: a dppnas space (or its config); default the param_space's ``"space"`` section.
        devices: device models (or an experiment's ``devices`` section) for latency / energy;
            default the param_space's ``"devices"`` section.
        input_shape, num_classes: of the dataset, for device costs; default from the
            param_space's ``"data"`` section.
        cost_method: ``dpp`` space device costs per ``"layers"`` (default) or ``"network"``.
        surrogate: :class:`.surrogate.SurrogateOptions` (or a mapping of them).
        seed: seeds the surrogate and the random choice of ``k0`` without costs.
        log_dir: TensorBoard folder; None for no TensorBoard.
    """

    def __init__(
        self,
        metric: Sequence[str] | str | None = None,
        mode: Sequence[str] | str | None = None,
        *,
        costs: CostFunction | None = None,
        growth: str | GrowthRule | None = None,
        order: Sequence[str | Sequence[str]] | None = None,
        base: Mapping[str, Any] | None = None,
        k: int = 8,
        k0: int | None = None,
        max_depth: int | None = None,
        selection: SelectionRule = "pareto",
        parents: ParentRule = "front",
        grow_through_repeats: bool = True,
        accuracy_metric: str | None = None,
        arch_key: ArchKey | None = None,
        space: SearchSpace | Mapping[str, Any] | None = None,
        devices: Mapping[str, Any] | None = None,
        input_shape: Sequence[int] | None = None,
        num_classes: int | None = None,
        cost_method: CostMethod = "layers",
        surrogate: SurrogateOptions | Mapping[str, Any] | None = None,
        seed: int = 0,
        log_dir: str | Path | None = None,
    ) -> None:
        super().__init__(metric, mode, arch_key)
        if k < 1 or (k0 is not None and k0 < 1):
            raise DppnasError(f"k and k0 must be >= 1 (k0 None: every first step), got {k}, {k0}")
        if selection not in ("pareto", "accuracy"):
            raise DppnasError(f"selection must be 'pareto' or 'accuracy', got {selection!r}")
        if parents not in ("front", "step"):
            raise DppnasError(f"parents must be 'front' or 'step', got {parents!r}")
        self.k, self.k0, self.selection, self.parents = int(k), k0, selection, parents
        self.grow_through_repeats, self.seed = bool(grow_through_repeats), int(seed)
        self.cost_method, self._accuracy_arg = cost_method, accuracy_metric
        self.surrogate_options = (
            surrogate
            if isinstance(surrogate, SurrogateOptions)
            else SurrogateOptions.model_validate(dict(surrogate or {}))
        )
        self._growth_arg, self._order, self._base = growth, order, base
        self._max_depth_arg, self._devices_arg, self._pending_restore = max_depth, devices, None
        self.candidate_costs = CandidateCosts(costs, self._cost_context)
        self._input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self._num_classes, self._log = num_classes, StepLog(log_dir)
        self.space: SearchSpace | None = None
        self.rule: GrowthRule | None = None
        self.accuracy_metric = ""  # known with the metrics
        self._surrogate: AccuracySurrogate | None = None
        self._rng = np.random.default_rng(self.seed)
        self._step: Step | None = None
        self._pending: dict[str, Hashable] = {}  # trial id -> architecture
        self._suggested: set[Hashable] = set()  # arch_key of every suggestion
        self.observations: list[Observation] = []
        self.history: list[StepRecord] = []
        self._finished = False
        if self._metric:
            self.accuracy_metric = accuracy_metric_of(self.metrics, self.modes, self._accuracy_arg)
        if space is not None:
            self._set_space(space)
            arch = [ControllerDecision((ARCH_KEY, d.name), d.choices) for d in self.space.decisions]
            self._set_rule(arch)

    # --- configuration ----------------------------------------------------------------------

    def _set_space(self, space: SearchSpace | Mapping[str, Any]) -> None:
        self.space = make_space(space) if isinstance(space, Mapping) else space
        self.use_space_arch_key(self.space)

    def _set_rule(self, decisions: Sequence[ControllerDecision]) -> None:
        self.rule = make_growth(
            self._growth_arg,
            decisions,
            self.space,
            order=self._order,
            base=self._base,
            max_depth=self._max_depth_arg,
        )
        self._surrogate = AccuracySurrogate(
            self.rule.vocabulary(), self.surrogate_options, seed=self.seed
        )
        if self._pending_restore is not None:
            state, self._pending_restore = self._pending_restore, None
            self.set_state(state)

    @property
    def cost_metrics(self) -> list[str]:
        """The objectives computed for untrained candidates (all but the accuracy)."""
        return [m for m in self.metrics if m != self.accuracy_metric]

    @property
    def max_depth(self) -> int:
        """The last step (0 until the growth rule is known)."""
        return 0 if self.rule is None else self.rule.max_depth

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """Take Tune's ``param_space``: its decisions, and what was not given (space, devices,
        data)."""
        if not self.take_tune_metric(metric, mode):
            return False
        if self._metric:
            self.accuracy_metric = accuracy_metric_of(self.metrics, self.modes, self._accuracy_arg)
        if self.space is None and isinstance(config.get("space"), Mapping):
            self._set_space(config["space"])
        decisions = list(decisions_of(config))
        if self.rule is None:
            self._set_rule(decisions)
        check_decisions(self.rule, decisions)
        if self._devices_arg is None and isinstance(config.get("devices"), Mapping):
            self._devices_arg = config["devices"]
        if self._input_shape is None and isinstance(config.get("data"), Mapping):
            self._input_shape, self._num_classes = input_shape_of(config["data"])
        return True

    def use_costs(self, costs: CostFunction, label: str = "costs callable") -> None:
        """Cost untrained candidates with ``costs(configs)`` (e.g. a
        :class:`~.costs.TableCosts`, whose label marks it an oracle)."""
        self.candidate_costs.use(costs, label)

    @property
    def cost_label(self) -> str:
        """Where the costs of untrained candidates come from (an oracle says so)."""
        return self.candidate_costs.describe(self.space is not None)

    def _cost_context(self) -> dict[str, Any]:
        return dict(
            rule=self.rule,
            metrics=self.cost_metrics,
            space=self.space,
            devices=self._devices_arg,
            input_shape=self._input_shape,
            num_classes=self._num_classes,
            method=self.cost_method,
        )

    # --- the Searcher contract --------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if self._finished:
            return Searcher.FINISHED
        if self.rule is None or not self._metric:
            raise DppnasError(
                "the DPP-Net searcher has no search space or no metric: pass metric=/mode= "
                "lists, and run it in a Tuner (or pass space=...)"
            )
        if self._step is None:
            self._start_step(1)
        while True:
            step = self._step
            wanted = len(step.completed) + len(self._pending) < step.target
            if wanted and step.cursor < len(step.queue):
                arch = step.queue[step.cursor]
                step.cursor += 1
                self._pending[trial_id] = arch
                self._suggested.add(self._key(arch))
                return self.rule.config(arch)
            if self._pending:
                return None  # the step's trials are running
            self._finish_step()
            if step.depth >= self.max_depth or not step.completed:
                if not step.completed:
                    logger.warning("DPP-Net: no trial of step %d completed; stopping", step.depth)
                self._finished = True
                return Searcher.FINISHED
            self._start_step(step.depth + 1)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """A result marked ``final`` completes its trial now: when it is a step's last, Tune
        gets the next step's trials while it still holds the last trial's actor and reuses
        it (without this, measured: ``benchmarks/dpp_mechanisms.py``). The later
        ``on_trial_complete`` finds the trial done and ignores it."""
        if result.get("final") is True:
            self.on_trial_complete(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        arch = self._pending.pop(trial_id, None)
        if arch is None or self._step is None:
            return
        if error or result is None:
            self._step.errored += 1  # suggest() hands out the next candidate instead
            return
        values = self.metric_values(result)
        self.observations.append(Observation(arch, self._step.depth, values, is_final(result)))
        self._step.completed.append(arch)
        if len(self._step.completed) >= self._step.target and not self._pending:
            self._finish_step()  # now, in case Tune asks for no more trials (num_samples)

    # --- steps ------------------------------------------------------------------------------

    def _key(self, arch: Hashable) -> Hashable:
        return self.arch_key(self.rule.config(arch))

    def _start_step(self, depth: int) -> None:
        settings = StepSettings(
            k=self.k,
            k0=self.k0,
            selection=self.selection,
            accuracy_metric=self.accuracy_metric,
            cost_maximise=tuple(
                mode == "max"
                for m, mode in zip(self.metrics, self.modes, strict=True)
                if m != self.accuracy_metric
            ),
            grow_through_repeats=self.grow_through_repeats,
            parents=self.parents,
        )
        step, record = plan_step(
            depth,
            rule=self.rule,
            parents=[] if self._step is None else self._step.kept(),
            observations=self.observations,
            suggested=self._suggested,
            key=self._key,
            surrogate=self._surrogate,
            costs=self.candidate_costs.matrix if self.cost_metrics else None,
            settings=settings,
            rng=self._rng,
        )
        self._step = step
        self.history.append(record)
        line = "DPP-Net step %d: %d candidates scored, %d selected (%.2f s; costs: %s)"
        logger.info(
            line, depth, record.candidates, step.target, record.scoring_seconds, self.cost_label
        )
        self._log.step_scored(record)

    def _finish_step(self) -> None:
        """Close the step's record: wall time, trained count and the surrogate's tau."""
        step, record = self._step, self.history[-1]
        if record.step_seconds is not None:
            return
        record.step_seconds = time.time() - step.started
        record.trained = len(step.completed)
        record.errored = step.errored
        record.kendall_tau = step_kendall_tau(step, self.observations, self.accuracy_metric)
        self._log.step_done(record)

    # --- persistence (pickled by MultiObjectiveSearcher.save) --------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "growth": None if self.rule is None else self.rule.name,
            "decisions": None if self.rule is None else self.rule.decision_names,
            **{name: getattr(self, name) for name in _SETTINGS},
            "seed": self.seed,
            "cost_method": self.cost_method,
            "parents": self.parents,
            "surrogate": self.surrogate_options.model_dump(),
        }

    def get_state(self) -> dict[str, Any]:
        return {
            "settings": self._settings(),
            "fields": {name: getattr(self, name) for name in _STATE_FIELDS},
            "input": (self._input_shape, self._num_classes),
            "surrogate": None if self._surrogate is None else self._surrogate.state_dict(),
            "costs": self.candidate_costs.state_dict(),
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if self.rule is None:
            self._pending_restore = state  # applied once Tune passes the param_space
            return
        saved = {"parents": "step", **state["settings"]}  # states made before parents existed
        if saved != self._settings():
            raise DppnasError(
                f"the saved DPP-Net state was made with {saved}, not "
                f"{self._settings()}; construct the searcher with the same settings"
            )
        for name, value in copy.deepcopy(state["fields"]).items():
            setattr(self, name, value)
        if self._input_shape is None and state["input"][0] is not None:
            self._input_shape, self._num_classes = state["input"]
        if state["surrogate"] is not None:
            self._surrogate.load_state_dict(state["surrogate"])
        self.candidate_costs.load_state_dict(state["costs"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]

    # --- inspection -------------------------------------------------------------------------

    @property
    def log_dir(self) -> Path | None:
        """The TensorBoard folder (None: no TensorBoard)."""
        return self._log.log_dir

    @property
    def finished(self) -> bool:
        """Whether every step is done (suggest() returns ``Searcher.FINISHED``)."""
        return self._finished

    def planned_trials(self) -> int:
        """Trials suggested when none errors: ``k0`` (or every first-step architecture), then
        up to ``k`` per step. Tune's num_samples should be at least this."""
        if self.rule is None:
            raise DppnasError("planned_trials needs the search space")
        roots = len(self.rule.roots())
        return (roots if self.k0 is None else min(self.k0, roots)) + self.k * (self.max_depth - 1)
