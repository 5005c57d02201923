"""What MONAS learns with: each completed child's reward (:class:`Rewards`), the LSTM
controller's policy (sampled, and resampled for a new architecture) and the REINFORCE step (Williams 1992; Zoph &
Le 2017) with Adam after each batch of children:

    grad J ~ (1/N) sum_n sum_t grad log pi(a_t^n | a_<t^n) A^n + beta * grad (1/N) sum_n H^n

with ``A^n = R^n - b``, ``b`` an exponential moving average of the batch-mean rewards (the first
batch's mean to start) and ``H^n`` the policy's entropy along child ``n``, summed over
decisions. Ours: ``A`` is divided by its moving root mean square (``normalize_advantage``), so
that the learning rate and ``beta`` mean the same for every reward kind and scale. The Tune
adapter around it is :class:`~search_algos.monas.searcher.MONASSearcher`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dppnas.errors import DppnasError
from dppnas.pareto import Objective, non_dominated_mask
from search_algos.monas import rewards
from search_algos.monas.controller import Controller

log = logging.getLogger(__name__)

#: logit divisors of the batches drawn to replace a repeated architecture (``unique``; ours)
_RESAMPLE_SPREADS = (1.0, 2.0, 4.0)


@dataclass
class Rewards:
    """MONAS's reward ``kind`` (mixed, constrained, pareto) with its settings (see
    :class:`~search_algos.monas.searcher.MONASSearcher`), for the objectives ``metric`` /
    ``mode``; and what it has seen: the ``pareto`` reward's front of final results, the lowest
    and the best reward."""

    kind: str
    ref: list[float] | None
    alpha: float
    budgets: dict[str, float]
    penalty: float
    pareto_scale: str
    front: list[list[float]] = field(default_factory=list)  # final results' objective values
    min_reward: float | None = None
    best_reward: float | None = None

    def check(self, metric: Sequence[str], mode: Sequence[str]) -> None:
        """A :class:`DppnasError` when the settings do not fit the objectives."""
        n = len(metric)
        if self.ref is not None and len(self.ref) != n:
            raise DppnasError(f"ref needs one value per metric ({n}), got {len(self.ref)}")
        unknown = set(self.budgets) - set(metric)
        if unknown:
            raise DppnasError(
                f"budgets name metrics that are not objectives: {', '.join(sorted(unknown))} "
                f"(objectives: {', '.join(metric)})"
            )
        if self.kind == "pareto" and self.ref is None:
            raise DppnasError(
                "reward='pareto' needs the reference point: pass ref=[...] (one value per metric)"
            )
        if self.kind == "constrained" and not any(
            b is not None for b in self.budget_list(metric, mode)
        ):
            raise DppnasError(
                "reward='constrained' needs a budget: pass budgets={metric: value} or ref=[...]"
            )
        if self.kind == "mixed" and self.ref is None and "min" in mode:
            log.warning("MONAS mixed reward without ref: costs enter unnormalised (ref = 1)")

    def objectives(self, metric: Sequence[str], mode: Sequence[str]) -> list[Objective]:
        refs = self.ref or [1.0] * len(metric)
        return [
            Objective(metric=m, mode=o, ref=r) for m, o, r in zip(metric, mode, refs, strict=True)
        ]

    def budget_list(self, metric: Sequence[str], mode: Sequence[str]) -> list[float | None]:
        refs = self.ref or [None] * len(metric)
        return [
            self.budgets.get(m, r if o == "min" else None)
            for m, o, r in zip(metric, mode, refs, strict=True)
        ]

    def reward(
        self, values: list[float], metric: Sequence[str], mode: Sequence[str], final: bool
    ) -> float:
        """The reward of a child's objective ``values``; a ``final`` one joins the front the
        ``pareto`` reward measures against."""
        objectives = self.objectives(metric, mode)
        if self.kind == "mixed":
            reward = rewards.mixed_reward(values, objectives, self.alpha)
        elif self.kind == "constrained":
            budgets = self.budget_list(metric, mode)
            reward = rewards.constrained_reward(values, objectives, budgets, self.penalty)
        else:
            front = np.array(self.front, dtype=float).reshape(-1, len(objectives))
            ideal = None
            if self.pareto_scale == "observed":  # best value seen per objective (ours)
                seen = np.vstack([front, [values]])
                maximise = np.array([o.mode == "max" for o in objectives])
                ideal = np.where(maximise, seen.max(axis=0), seen.min(axis=0))
            reward = rewards.pareto_reward(values, front, objectives, ideal)
            if final:  # keep the non-dominated set only: a dominated point never returns
                points = np.vstack([front, [values]])
                self.front = points[non_dominated_mask(points, objectives)].tolist()
        self.min_reward = reward if self.min_reward is None else min(self.min_reward, reward)
        self.best_reward = reward if self.best_reward is None else max(self.best_reward, reward)
        return reward

    def state(self) -> dict[str, Any]:
        return {
            "front": [list(v) for v in self.front],
            "min_reward": self.min_reward,
            "best_reward": self.best_reward,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.front = [list(v) for v in state["front"]]
        self.min_reward = state["min_reward"]
        self.best_reward = state["best_reward"]


class Learner:
    """The controller with its Adam optimiser and sampling generator (seeded by ``seed``),
    and the moving baseline of the REINFORCE step."""

    def __init__(
        self,
        num_choices: Sequence[int],
        seed: int,
        *,
        hidden_size: int,
        temperature: float | None,
        tanh_constant: float | None,
        lr: float,
        entropy_weight: float,
        baseline_decay: float,
        normalize_advantage: bool,
    ) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.controller = Controller(
            num_choices,
            hidden_size=hidden_size,
            temperature=temperature,
            tanh_constant=tanh_constant,
            generator=self.generator,
        )
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.normalize_advantage = normalize_advantage
        self.baseline: float | None = None
        self.advantage_square: float | None = None  # moving mean of (R - b)^2
        self.updates = 0

    def sample(self) -> list[int]:
        """One architecture's choice indices drawn from the policy."""
        return self.controller.sample(self.generator)

    def new_architecture(
        self,
        actions: list[int],
        key: Hashable,
        key_of: Callable[[Sequence[int]], Hashable],
        seen: set[Hashable],
        resamples: int,
    ) -> tuple[list[int], Hashable]:
        """The first architecture whose ``key_of`` is not in ``seen`` among batches of
        ``resamples`` drawn from the policy, then from flatter versions of it (logits / 2, / 4:
        the neighbourhood of a policy that has converged); ``(actions, key)`` unchanged when
        every draw was seen."""
        tried = {tuple(actions)}  # a converged policy draws the same few again and again
        for spread in _RESAMPLE_SPREADS:
            for other in self.controller.sample_many(resamples, self.generator, spread):
                if tuple(other) in tried:
                    continue
                tried.add(tuple(other))
                other_key = key_of(other)
                if other_key not in seen:
                    return other, other_key
        return actions, key

    def update(
        self, batch: list[dict[str, Any]], fallback: float
    ) -> tuple[torch.Tensor, float, float]:
        """One REINFORCE step on ``batch`` (``actions`` and ``reward``, None for the error
        penalty ``fallback``), then the baseline's moving average; the rewards used, the mean
        entropy and the loss."""
        reward = torch.tensor(
            [fallback if c["reward"] is None else c["reward"] for c in batch], dtype=torch.float32
        )
        mean = float(reward.mean())
        baseline = mean if self.baseline is None else self.baseline
        advantage, square = rewards.advantages(
            reward, baseline, self.advantage_square, self.baseline_decay, self.normalize_advantage
        )
        if self.normalize_advantage:
            self.advantage_square = square
        actions = torch.tensor([c["actions"] for c in batch], dtype=torch.long)
        log_prob, entropy = self.controller.log_prob_and_entropy(actions)
        loss = -(advantage * log_prob).mean() - self.entropy_weight * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = self.baseline_decay * baseline + (1.0 - self.baseline_decay) * mean
        self.updates += 1
        return reward, float(entropy.detach().mean()), float(loss.detach())

    def state(self) -> dict[str, Any]:
        """Controller and Adam state, RNG, baseline, updates."""
        return {
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "baseline": self.baseline,
            "advantage_square": self.advantage_square,
            "updates": self.updates,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Load :meth:`state` (or a mapping holding its keys)."""
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]
        self.advantage_square = state["advantage_square"]
        self.updates = state["updates"]
