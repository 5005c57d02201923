"""What each DPP-Net step did (:class:`StepRecord`) and its TensorBoard view (:class:`StepLog`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class StepRecord:
    """One step: cell depth, candidates scored, the selected cells (with their predicted
    accuracy from step 2 on), times in seconds, and, once its results are in, how many
    trained / errored and the surrogate's Kendall tau on the step's final results."""

    step: int
    candidates: int
    selected: list[str]
    predicted: list[float] | None
    scoring_seconds: float
    fit_seconds: float = 0.0
    step_seconds: float | None = None
    kendall_tau: float | None = None
    trained: int = 0
    errored: int = 0


class StepLog:
    """Writes step records to TensorBoard under ``log_dir`` (nothing when it is None).

    The ``SummaryWriter`` is opened on first use and left out of pickles (Tune pickles the
    searcher), then reopened. A failure to write disables logging with a warning instead of
    raising: an exception in a searcher aborts the Tune run.
    """

    def __init__(self, log_dir: str | Path | None) -> None:
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._writer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_writer": None}

    def step_scored(self, record: StepRecord) -> None:
        """Depth, candidates scored, the selected set, scoring and surrogate-fit times."""

        def write(writer: Any) -> None:
            writer.add_scalar("dpp/depth", record.step, record.step)
            writer.add_scalar("dpp/candidates_scored", record.candidates, record.step)
            writer.add_scalar("dpp/selected", len(record.selected), record.step)
            writer.add_scalar("dpp/scoring_seconds", record.scoring_seconds, record.step)
            writer.add_scalar("dpp/surrogate_fit_seconds", record.fit_seconds, record.step)
            rows = ["| rank | cell | predicted accuracy |", "|---|---|---|"]
            for i, cell in enumerate(record.selected):
                predicted = "" if record.predicted is None else f"{record.predicted[i]:.4f}"
                rows.append(f"| {i + 1} | {cell} | {predicted} |")
            writer.add_text("dpp/selected_cells", "\n".join(rows), record.step)

        self._write(write)

    def step_done(self, record: StepRecord) -> None:
        """Wall time of the step, cells trained, the surrogate's Kendall tau."""

        def write(writer: Any) -> None:
            if record.step_seconds is not None:
                writer.add_scalar("dpp/step_seconds", record.step_seconds, record.step)
            writer.add_scalar("dpp/trained", record.trained, record.step)
            writer.add_scalar("dpp/errored", record.errored, record.step)
            if record.kendall_tau is not None:
                writer.add_scalar("dpp/surrogate_kendall_tau", record.kendall_tau, record.step)

        self._write(write)

    def _write(self, write: Any) -> None:
        if self.log_dir is None:
            return
        try:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.log_dir))
            write(self._writer)
            self._writer.flush()
        except Exception as err:  # never abort the search for a log
            logger.warning("DPP-Net: TensorBoard logging disabled: %s", err)
            self.log_dir, self._writer = None, None
