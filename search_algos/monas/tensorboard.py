"""MONAS's TensorBoard view: per controller update, rewards, baseline, entropy, loss and the
policy's most likely choice per decision."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search_algos.decisions import ControllerDecision


class UpdateLog:
    """A ``SummaryWriter`` under ``log_dir``, opened on first use and left out of pickles
    (Tune pickles the searcher; the writer holds a thread and files)."""

    def __init__(self, log_dir: str | Path | None) -> None:
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._writer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writer": None}

    def update(
        self,
        step: int,
        rewards: Sequence[float],
        baseline: float,
        entropy: float,
        loss: float,
        decisions: Sequence[ControllerDecision],
        probabilities: Sequence[Sequence[float]],
    ) -> None:
        """One controller update (``step``): reward mean/max, baseline, entropy (nats, summed
        over decisions), loss, and the most likely choice of each decision."""
        if self.log_dir is None:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        w = self._writer
        w.add_scalar("monas/reward_mean", float(np.mean(rewards)), step)
        w.add_scalar("monas/reward_max", float(np.max(rewards)), step)
        w.add_scalar("monas/baseline", baseline, step)
        w.add_scalar("monas/entropy_nats", entropy, step)
        w.add_scalar("monas/loss", loss, step)
        rows = ["| decision | most likely | probability |", "|---|---|---|"]
        for decision, probs in zip(decisions, probabilities, strict=True):
            best = int(np.argmax(probs))
            choice = decision.choices[best]
            w.add_scalar(f"most_likely_prob/{decision.name}", probs[best], step)
            if isinstance(choice, numbers.Real):
                w.add_scalar(f"most_likely/{decision.name}", float(choice), step)
            rows.append(f"| {decision.name} | {choice!r} | {probs[best]:.3f} |")
        w.add_text("monas/most_likely", "\n".join(rows), step)
        w.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
