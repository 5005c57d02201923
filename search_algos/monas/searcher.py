"""``MONASSearcher``: MONAS (Hsu et al. 2018, arXiv 1806.10332) as a Ray Tune ``Searcher``.

An LSTM controller (:mod:`.controller`) samples one architecture per :meth:`suggest`; every
completed child becomes a reward (:mod:`.rewards`); after each ``batch_size`` children the
controller takes one REINFORCE step with Adam (:mod:`.learner`, which writes the update out).
Each trial's actions are stored at :meth:`suggest` and their log-probabilities recomputed at
update time, so any number of concurrent trials is fine.

Defaults are ours, chosen on synthetic categorical problems (8 decisions of 4-5 choices) for
budgets of 50-500 children: they learn in tens of updates, where the paper-like settings in
:data:`~search_algos.monas.options.PAPER_LIKE` (after Zoph & Le, who trained on 12,800 children) barely move.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from ray.tune.search import Searcher

from dppnas.errors import DppnasError
from dppnas.threads import fixed_threads
from search_algos.base import ArchKey, MultiObjectiveSearcher, is_final
from search_algos.decisions import (
    ControllerDecision,
    ControllerSpace,
    check_param_space,
    resolve_space,
)
from search_algos.monas.learner import Learner, Rewards
from search_algos.monas.tensorboard import UpdateLog

log = logging.getLogger(__name__)

RewardName = Literal["mixed", "constrained", "pareto"]

#: the searcher's counters (:attr:`MONASSearcher.stats`)
_COUNTERS = (
    "suggested",
    "completed",
    "errored",
    "missing_metrics",
    "low_fidelity",
    "cancelled",
    "repeats",
)


class MONASSearcher(MultiObjectiveSearcher):
    """MONAS: an LSTM controller trained with REINFORCE on mixed, constrained or Pareto rewards.

    Args:
        metric: the objectives' metrics (flattened Tune keys, e.g. ``latency/local-cpu``).
        mode: ``"max"``/``"min"`` per metric (accuracy max, costs min).
        space: what to search: None (take Tune's ``param_space`` in
            :meth:`set_search_properties`), a Tune ``param_space`` of categorical domains
            (``tune.choice``, ``tune.randint``; constants pass through), or a dppnas
            ``SearchSpace`` / space name (its decisions under ``"arch"``).
        ref: the objectives' reference values, aligned with ``metric`` (an experiment's
            ``objectives[i].ref``). Costs are divided by them (``mixed``), they are the default
            budgets (``constrained``) and the hypervolume reference point (``pareto``).
        reward: ``"mixed"`` or ``"constrained"`` (MONAS), or ``"pareto"`` (ours).
        pareto_scale: ``pareto``'s objective scales: ``"reference"`` divides by ``|ref|``;
            ``"observed"`` (ours; better on nb201-hw's HELP meta-validation devices,
            docs/benchmarks.md) maps the best value seen so far to 0 and ``ref`` to 1, so
            that accuracy and latency weigh alike whatever their reference values.
        alpha: ``mixed``'s accuracy weight in [0, 1] (ours: 0.5; on nb201-hw 0.3 with
            ``batch_size`` 4 and ``lr`` 0.03 does better, docs/benchmarks.md).
        budgets: ``constrained``'s budget per metric (same units); cost metrics not listed
            default to their ``ref``, max metrics to unconstrained.
        penalty: ``constrained``'s penalty per unit of relative budget violation (ours: 1).
        batch_size: children per controller update (ours: 8).
        hidden_size: LSTM hidden units and embedding width (ours: 64).
        lr: Adam learning rate (ours: 0.01; Zoph & Le: 0.0006).
        entropy_weight: entropy bonus ``beta``, entropy summed over decisions in nats
            (ours: 0.01).
        baseline_decay: EMA decay per update of the reward baseline and of the advantages'
            mean square (ours: 0.8).
        normalize_advantage: divide ``R - b`` by its moving root mean square (ours: True).
        temperature: logits divided by it (ours: None).
        tanh_constant: logits clipped to ``c * tanh(logits)`` (ours: None).
        learn_from_low_fidelity: learn from trials stopped early by a scheduler (``final``
            false) with their last metrics (default False: a truncated accuracy is not the
            architecture's value; they never enter the ``pareto`` front either way).
        error_penalty: reward of an errored trial or one missing a metric (default None: the
            lowest reward seen by the time of the update; 0 if none was).
        max_trials: return ``Searcher.FINISHED`` after this many suggestions (None: never;
            Tune stops at ``num_samples``).
        unique: never suggest an architecture twice while the policy offers a new one (ours:
            True): a sample already suggested is replaced by the first new one among
            ``resamples`` more drawn in one batched pass (then among batches from the policy
            with its logits halved and quartered), and kept only when all were seen too. Training the same network twice only re-measures it; REINFORCE then
            learns from the policy restricted to new architectures (a small bias, as in the
            de-duplicating controllers of later NAS work).
        resamples: the batch drawn when a sample is a repeat (ours: 64).
        arch_key: ``arch_key(config) -> key``, equal for configs of the same network (what
            ``unique`` compares); default: a dppnas space's canonical encoding, else the
            choices themselves.
        seed: seeds the controller's weights and its sampling (None: random).
        log_dir: folder of a TensorBoard ``SummaryWriter`` (None: no logs).
    """

    def __init__(
        self,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        space: Any = None,
        *,
        ref: Sequence[float] | None = None,
        reward: RewardName = "mixed",
        pareto_scale: Literal["reference", "observed"] = "reference",
        alpha: float = 0.5,
        budgets: Mapping[str, float] | None = None,
        penalty: float = 1.0,
        batch_size: int = 8,
        hidden_size: int = 64,
        lr: float = 0.01,
        entropy_weight: float = 0.01,
        baseline_decay: float = 0.8,
        normalize_advantage: bool = True,
        temperature: float | None = None,
        tanh_constant: float | None = None,
        learn_from_low_fidelity: bool = False,
        error_penalty: float | None = None,
        max_trials: int | None = None,
        unique: bool = True,
        resamples: int = 64,
        arch_key: ArchKey | None = None,
        seed: int | None = None,
        log_dir: str | Path | None = None,
    ) -> None:
        super().__init__(metric, mode, arch_key)
        if reward not in ("mixed", "constrained", "pareto"):
            raise DppnasError(f"reward must be 'mixed', 'constrained' or 'pareto', got {reward!r}")
        if not 0.0 <= alpha <= 1.0:
            raise DppnasError(f"alpha must be in [0, 1], got {alpha}")
        if batch_size < 1:
            raise DppnasError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= baseline_decay < 1.0:
            raise DppnasError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        if pareto_scale not in ("reference", "observed"):
            raise DppnasError(
                f"pareto_scale must be 'reference' or 'observed', got {pareto_scale!r}"
            )
        self.rewards = Rewards(
            reward,
            None if ref is None else [float(r) for r in ref],
            alpha,
            dict(budgets or {}),
            penalty,
            pareto_scale,
        )
        self.batch_size = batch_size
        self.hidden_size = hidden_size
        self.lr = lr
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.normalize_advantage = normalize_advantage
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.learn_from_low_fidelity = learn_from_low_fidelity
        self.error_penalty = error_penalty
        self.max_trials = max_trials
        if resamples < 1:
            raise DppnasError(f"resamples must be >= 1, got {resamples}")
        self.unique = unique
        self.resamples = resamples
        self.seed = secrets.randbits(62) if seed is None else int(seed)
        self._log = UpdateLog(log_dir)
        if self._metric is not None:
            self.rewards.check(self._metric, self._mode)

        self._space: ControllerSpace | None = None
        self._learner: Learner | None = None  # once the space is known
        self._pending_restore: dict[str, Any] | None = None
        self._pending: dict[str, list[int]] = {}
        self._suggested: set[Hashable] = set()  # every architecture suggested (its key)
        self._batch: list[dict[str, Any]] = []  # completed children awaiting the next update
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._set_space(resolve_space(space))

    # ---- set-up ----------------------------------------------------------------------------

    def _set_space(self, space: ControllerSpace | None) -> None:
        self._space = space
        if space is None:
            return
        self._learner = Learner(
            space.num_choices,
            self.seed,
            hidden_size=self.hidden_size,
            temperature=self.temperature,
            tanh_constant=self.tanh_constant,
            lr=self.lr,
            entropy_weight=self.entropy_weight,
            baseline_decay=self.baseline_decay,
            normalize_advantage=self.normalize_advantage,
        )
        if self._pending_restore is not None:
            state, self._pending_restore = self._pending_restore, None
            self._load_state(state)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """Tune's hook: take TuneConfig's metric/mode if none were given, and the param_space.

        Returns False when metric/mode conflict with the searcher's own. A param_space with
        domains the searcher's space does not resolve raises a :class:`DppnasError`.
        """
        if not self.take_tune_metric(metric, mode):
            return False
        if self._metric is not None:
            self.rewards.check(self._metric, self._mode)
        if config:
            if self._space is None:
                self._set_space(resolve_space(config))
            else:
                check_param_space(self._space, config)
        return True

    # ---- the Searcher contract ---------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict | str | None:
        """One architecture sampled from the controller: the config of every decision."""
        if self._space is None or self._learner is None:
            raise DppnasError(
                "MONASSearcher has no search space: pass `space=` or a param_space to the Tuner"
            )
        if self._metric is None:
            raise DppnasError(
                "MONASSearcher has no metrics: pass metric=[...] and mode=[...] to it "
                "(TuneConfig's metric/mode take one metric only)"
            )
        if self.max_trials is not None and self._counts["suggested"] >= self.max_trials:
            return Searcher.FINISHED
        with fixed_threads(1):  # tiny tensors: threads only cost time next to busy trials
            actions = self._learner.sample()
            key = self._key(actions)
            if self.unique and key in self._suggested:
                actions, key = self._learner.new_architecture(
                    actions, key, self._key, self._suggested, self.resamples
                )
        if key in self._suggested:
            self._counts["repeats"] += 1
        self._suggested.add(key)
        self._pending[trial_id] = actions
        self._counts["suggested"] += 1
        return self._space.config(actions)

    def _key(self, actions: Sequence[int]) -> Hashable:
        """The architecture ``actions`` stand for (:meth:`arch_key` of its config)."""
        if self._user_arch_key is not None:
            return self._user_arch_key(self._space.config(actions))
        return self._space.key(actions)  # the space's canonical key, cached per choice tuple

    def on_trial_complete(
        self, trial_id: str, result: dict | None = None, error: bool = False
    ) -> None:
        """Turn the trial's last result into a reward; update the controller every batch.

        A trial stopped by a scheduler (``final`` false) is low-fidelity; a result without
        ``final`` counts as full-budget. An errored trial, or one whose result lacks an
        objective, gets the error penalty; a trial Tune removed before it ran (no result, no
        error) teaches nothing and is dropped. Nothing here raises.
        """
        actions = self._pending.pop(trial_id, None)
        if actions is None:
            log.warning("MONAS: completion of unknown trial %s ignored", trial_id)
            return
        self._counts["completed"] += 1
        if result is None and not error:
            self._counts["cancelled"] += 1
            return
        reward = None  # resolved to the error penalty at the next update
        if error:
            self._counts["errored"] += 1
        elif (values := self.objective_vector(result)) is None:
            self._counts["missing_metrics"] += 1
            log.warning(
                "MONAS: trial %s reported no finite value for every objective (%s); "
                "it gets the error penalty",
                trial_id,
                ", ".join(self._metric),
            )
        else:
            final = is_final(result)
            if not final:
                self._counts["low_fidelity"] += 1
                if not self.learn_from_low_fidelity:
                    return
            try:
                reward = self.rewards.reward(values, self._metric, self._mode, final)
            except Exception:  # a searcher exception would abort the whole Tune run
                log.exception("MONAS: reward of trial %s failed; error penalty", trial_id)
        self._batch.append({"actions": actions, "reward": reward})
        if len(self._batch) >= self.batch_size:
            with fixed_threads(1):
                self._update()

    # ---- rewards and learning ----------------------------------------------------------------

    def _update(self) -> None:
        """One REINFORCE step on the batch (:meth:`Learner.update`), logged."""
        assert self._learner is not None
        batch, self._batch = self._batch, []
        fallback = self.error_penalty  # else the lowest reward seen, else 0
        if fallback is None:
            fallback = self.rewards.min_reward if self.rewards.min_reward is not None else 0.0
        reward, entropy, loss = self._learner.update(batch, fallback)
        if self._log.log_dir is not None:
            self._log.update(
                self._learner.updates,
                reward.tolist(),
                self._learner.baseline,
                entropy,
                loss,
                self.decisions,
                self.choice_probabilities(),
            )

    # ---- inspection --------------------------------------------------------------------------

    @property
    def decisions(self) -> list[ControllerDecision]:
        """The controller's decisions in order (empty until the space is known)."""
        return list(self._space.decisions) if self._space else []

    def choice_probabilities(self, actions: Sequence[int] | None = None) -> list[list[float]]:
        """Per decision, the policy's probability of each choice given the earlier choices:
        ``actions`` (choice indices), or the most likely choices when None (greedy)."""
        if self._learner is None:
            raise DppnasError("MONASSearcher has no search space yet")
        return [p.tolist() for p in self._learner.controller.step_probabilities(actions)]

    @property
    def stats(self) -> dict[str, Any]:
        """Counters (suggested, completed, errored, missing_metrics, low_fidelity, cancelled),
        ``updates``, ``baseline``, ``best_reward`` and children ``waiting`` for an update."""
        learner = self._learner
        return {
            **self._counts,
            "updates": learner.updates if learner else 0,
            "baseline": learner.baseline if learner else None,
            "best_reward": self.rewards.best_reward,
            "pending": len(self._pending),
            "waiting": len(self._batch),
        }

    # ---- checkpoints -------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Controller and Adam state, RNG, pending actions, suggested keys, batch, front,
        baseline, counters (pickled by :meth:`save`)."""
        if self._space is None:
            raise DppnasError("MONASSearcher has no search space yet; nothing to save")
        assert self._learner is not None
        return {
            "space": self._space.signature(),
            **self._learner.state(),
            **self.rewards.state(),
            "pending": {k: list(v) for k, v in self._pending.items()},
            "suggested": set(self._suggested),
            "batch": [dict(c) for c in self._batch],
            "counts": dict(self._counts),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Load :meth:`get_state`; before the space is known (Tune restores a searcher before
        it passes the param_space), once it is."""
        if self._space is None:
            self._pending_restore = state
        else:
            self._load_state(state)

    def _load_state(self, state: dict[str, Any]) -> None:
        assert self._learner is not None and self._space is not None
        if state["space"] != self._space.signature():
            raise DppnasError(
                "MONAS checkpoint was made for another search space "
                f"({[n for n, _ in state['space']]}); restore it with the same space"
            )
        self._learner.load(state)
        self.rewards.load(state)
        self._pending = {k: list(v) for k, v in state["pending"].items()}
        self._suggested = set(state["suggested"])
        self._batch = [dict(c) for c in state["batch"]]
        self._counts = dict.fromkeys(self._counts, 0) | dict(state["counts"])

    @property
    def log_dir(self) -> Path | None:
        """The TensorBoard folder (None: no TensorBoard)."""
        return self._log.log_dir

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        self._log.close()
