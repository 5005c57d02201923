"""A run folder as the result commands see it: its archive, its trials and their checkpoints.

Only reads files, so it works on a finished run and on one still running (``pareto.json`` is
written atomically by :class:`~dppnas.tuning.archive_callback.ParetoArchiveCallback`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from dppnas.errors import DppnasError
from dppnas.pareto import ARCHIVE_FILE, ArchiveEntry, ParetoArchive


@dataclass
class RunResults:
    """The run folder and its Pareto archive."""

    path: Path
    archive: ParetoArchive

    def front(self) -> list[ArchiveEntry]:
        """The front, best first by the first objective (rank 0 is the first)."""
        return self.archive.front()

    def entry(self, rank: int | None = None, trial_id: str | None = None) -> ArchiveEntry:
        """The front entry at ``rank`` (0-based), or the final entry of ``trial_id``."""
        if trial_id is not None:
            for entry in self.archive.entries + self.archive.partial:
                if entry.trial_id == trial_id:
                    return entry
            known = ", ".join(e.trial_id for e in self.archive.entries) or "none"
            raise DppnasError(f"{self.path}: no trial {trial_id!r} in the archive (known: {known})")
        front = self.front()
        rank = 0 if rank is None else rank
        if not 0 <= rank < len(front):
            raise DppnasError(
                f"--rank {rank}: the front of {self.path} has {len(front)} entries "
                f"(ranks 0..{len(front) - 1})"
            )
        return front[rank]

    def checkpoint(self, trial_id: str) -> Path:
        """The trial's latest checkpoint folder (``trial_<id>/checkpoint_*``)."""
        from dppnas.train import MODEL_FILE
        from dppnas.tuning.tuner import trial_dirname

        trial_dir = self.path / trial_dirname(SimpleNamespace(trial_id=trial_id))
        checkpoints = sorted(trial_dir.glob("checkpoint_*")) if trial_dir.is_dir() else []
        checkpoints = [c for c in checkpoints if (c / MODEL_FILE).is_file()]
        if not checkpoints:
            raise DppnasError(
                f"{self.path}: the run has no checkpoint for trial {trial_id} "
                f"(no {trial_dir.name}/checkpoint_*/{MODEL_FILE})"
            )
        return checkpoints[-1]


def load_run(path: str | Path) -> RunResults:
    """The run at ``path`` (a folder holding ``pareto.json``); one-line error otherwise."""
    run = Path(path)
    if not run.is_dir():
        raise DppnasError(f"{run}: no such run folder (give the folder `dppnas search` printed)")
    archive_file = run / ARCHIVE_FILE
    if not archive_file.is_file():
        raise DppnasError(
            f"{run}: no {ARCHIVE_FILE} here; is this a dppnas run folder with a finished trial?"
        )
    return RunResults(run, ParetoArchive.load(archive_file))
