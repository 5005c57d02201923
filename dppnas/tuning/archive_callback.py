"""A Ray Tune callback that keeps the run's Pareto archive, on disk and in TensorBoard.

Runs in the driver. Every completed trial's last result goes into a :class:`ParetoArchive`
(final results on the front or dominated, trials stopped early on the partial list), which is
written as ``pareto.json`` and ``pareto.csv`` in the experiment folder after each completion.
TensorBoard gets ``search/hypervolume``, ``search/front_size`` and ``search/trials_completed``
(step = completed trials; TensorBoard's "Wall"/"Relative" axis shows them against time) and a
front scatter every ``plot_every`` completions and at the end (also saved as ``pareto.png``).

An exception in a callback aborts the whole Tune run, so every hook logs and carries on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray.tune import Callback
from ray.tune.utils import flatten_dict

from dppnas.pareto import ARCHIVE_FILE, Objective, ParetoArchive

log = logging.getLogger(__name__)

CSV_FILE = "pareto.csv"
PLOT_FILE = "pareto.png"
HPARAMS_SUBDIR = "hparams"
TB_SUBDIR = "search"


class ParetoArchiveCallback(Callback):
    """Adds each completed trial to a Pareto archive kept in the experiment folder.

    Args:
        objectives: the objectives (``Objective`` or ``{metric, mode, ref}`` dicts).
        path: the folder for ``pareto.json`` / ``.csv`` / ``.png`` — the experiment folder.
            None: the experiment folder Tune gives the trials (on local storage; elsewhere
            Tune's driver staging folder, which it syncs to storage). An existing
            ``pareto.json`` there is reloaded, so a restored run continues its archive.
        tb_dir: TensorBoard folder; default ``<path>/search``.
        plot_every: add a front scatter to TensorBoard every N completed trials (0: only at
            the end).

    A result's ``final`` key (DESIGN section 3) says whether the trial ran its full budget;
    trainables that do not report ``final`` at all are taken to have run to the end. Errored
    trials are logged and not added.

    A resumed run (``Tuner.restore``) continues the archive of ``pareto.json`` and keeps it
    the run's record: archived trials that the restored run does not know (completed after
    Tune's last snapshot of the experiment; the searcher suggests them again) are dropped, and
    Tune's stale copy of the file is kept from overwriting it.
    """

    # class defaults, for callbacks pickled with a run before these attributes existed
    _path_given = True
    _resume_checked = False
    _restored = False

    def __init__(
        self,
        objectives: Sequence[Objective | dict[str, Any]],
        path: str | Path | None = None,
        tb_dir: str | Path | None = None,
        plot_every: int = 10,
    ) -> None:
        self.objectives = [Objective.model_validate(o) for o in objectives]
        self.path = Path(path) if path is not None else None
        self._path_given = path is not None
        self.tb_dir = Path(tb_dir) if tb_dir is not None else None
        self.plot_every = max(int(plot_every), 0)
        self._archive: ParetoArchive | None = None
        self._writer: Any = None
        self._writer_failed = False
        self._resume_checked = False  # staged copy and unknown trials handled (restored run)
        self._restored = False  # Tune restored this callback's state: a resumed run

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles callbacks with the run (Tuner.restore); writers cannot be pickled, and
        # the archive is reloaded from pareto.json, the one source of truth. A folder found
        # from the trials is found again: a restored run has a new driver staging folder.
        state = dict(self.__dict__)
        state.update(_archive=None, _writer=None, _writer_failed=False, _resume_checked=False)
        if not state.get("_path_given", True):
            state["path"] = None
        return state

    @property
    def archive(self) -> ParetoArchive | None:
        """The archive, once the experiment folder is known (None before)."""
        return self._archive

    # ---- Tune hooks (never raise) ----

    def setup(self, **info: Any) -> None:
        try:
            if self.path is not None:
                self._open(self.path)
        except Exception:
            log.exception("Pareto archive: cannot open %s", self.path)

    def get_state(self) -> dict[str, Any]:
        """Saved by Tune with each snapshot of the run; restoring it marks a resumed run."""
        return {"archived": self._completed()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._restored = True  # the archive itself is reloaded from pareto.json

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self._resume_checked or not trials:
            return
        self._resume_checked = True
        try:
            self._drop_staged_copy(trials[0])
            if self._restored:
                self._forget_unknown_trials(trials)
        except Exception:
            log.exception("Pareto archive: cannot reconcile the archive with the restored run")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        try:
            self._add(trial)
        except Exception:
            log.exception("Pareto archive: could not add trial %s", trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        log.info("Pareto archive: trial %s errored; not added", getattr(trial, "trial_id", trial))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        try:
            if self._archive is None and trials:
                self._open(self._folder(trials[0]))
            if self._archive is not None:
                self._plot(self._completed(), save_png=True)
                self._hparams()
        except Exception:
            log.exception("Pareto archive: final plot failed")
        finally:
            self._close_writer()

    # ---- work ----

    def _folder(self, trial: Any) -> Path:
        if self.path is not None:
            return self.path
        storage = trial.storage
        filesystem = getattr(storage, "storage_filesystem", None)
        if getattr(filesystem, "type_name", "") == "local":
            return Path(storage.experiment_fs_path)
        return Path(trial.local_experiment_path)

    def _drop_staged_copy(self, trial: Any) -> None:
        """Remove the stale ``pareto.json`` Tune copied into its driver staging folder.

        When it restores a run, Tune copies every ``.json`` file of the run folder into a new
        driver staging folder, and uploads that folder back to the run folder at each
        snapshot of the experiment: the copy of ``pareto.json`` made at restore time would
        overwrite every trial archived since (and the last upload comes after the last
        trial). Runs before the first snapshot (Tune calls ``on_step_begin`` first); a no-op
        where the archive lives in the staging folder itself (remote storage).
        """
        staged = Path(trial.storage.experiment_driver_staging_path) / ARCHIVE_FILE
        ours = self._folder(trial) / ARCHIVE_FILE
        if staged.exists() and staged.resolve() != ours.resolve():
            staged.unlink(missing_ok=True)
            log.debug("Pareto archive: removed Tune's staged copy %s", staged)

    def _forget_unknown_trials(self, trials: list) -> None:
        """On a resumed run, drop archived trials the restored run does not know.

        Tune restores the run from its last snapshot of the experiment; a trial that was
        suggested and completed after it is unknown to the restored run and its searcher,
        which suggest it again under a new id. Keeping the old entry would put the
        architecture in the archive twice; the archive holds the run's trials only.
        """
        known = {t.trial_id for t in trials}
        archive = self._open(self._folder(trials[0]))
        unknown = [e.trial_id for e in archive.entries + archive.partial if e.trial_id not in known]
        if unknown:
            archive.remove(unknown)
            archive.write_csv(self._folder(trials[0]) / CSV_FILE)
            log.warning(
                "Pareto archive: %d trials completed after the run's last snapshot are unknown "
                "to the restored run (they will be suggested again); removed from the "
                "archive: %s",
                len(unknown),
                ", ".join(unknown),
            )

    def _open(self, folder: Path) -> ParetoArchive:
        if self._archive is None:
            self.path = folder
            self._archive = ParetoArchive(self.objectives, path=folder / ARCHIVE_FILE)
        return self._archive

    def _add(self, trial: Any) -> None:
        result = dict(trial.last_result or {})
        if not result:
            log.info("Pareto archive: trial %s ended without a result", trial.trial_id)
            return
        folder = self._folder(trial)
        archive = self._open(folder)
        metrics = {k: v for k, v in flatten_dict(result).items() if not k.startswith("config/")}
        final = bool(metrics.get("final", True))
        archive.add(trial.trial_id, dict(trial.config or {}), metrics, final=final)
        archive.write_csv(folder / CSV_FILE)
        completed = self._completed()
        self._scalars(completed)
        if self.plot_every and completed % self.plot_every == 0:
            self._plot(completed)

    def _completed(self) -> int:
        archive = self._archive
        return 0 if archive is None else len(archive.entries) + len(archive.partial)

    def _scalars(self, step: int) -> None:
        writer = self._tensorboard()
        if writer is None or self._archive is None:
            return
        now = time.time()
        writer.add_scalar("search/hypervolume", self._archive.hypervolume(), step, walltime=now)
        writer.add_scalar("search/front_size", len(self._archive.front()), step, walltime=now)
        writer.add_scalar("search/trials_completed", step, step, walltime=now)
        writer.flush()

    def _plot(self, step: int, save_png: bool = False) -> None:
        from dppnas.pareto.plot import front_figure

        assert self._archive is not None and self.path is not None
        figure = front_figure(self._archive, title=f"{step} trials")
        if save_png:
            figure.savefig(self.path / PLOT_FILE)
        writer = self._tensorboard()
        if writer is not None:
            writer.add_figure("search/front", figure, global_step=step, close=False)
            writer.flush()

    def _hparams(self) -> None:
        """TensorBoard's HPARAMS view: one run per final trial under ``RUN/hparams``.

        Hyperparameters are those of :func:`hyperparameters` (the architecture decisions
        ``arch/<decision>``, or a flat ``param_space``'s keys), metrics the objectives, so the
        whole search can be filtered and sorted in TensorBoard.
        """
        if self._writer_failed or self._archive is None or self.path is None:
            return
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(log_dir=str(self.path / HPARAMS_SUBDIR)) as writer:
            for entry in self._archive.entries:
                hparams = hyperparameters(entry.config)
                metrics = {o.metric: float(entry.metrics[o.metric]) for o in self.objectives}
                writer.add_hparams(hparams, metrics, run_name=str(entry.trial_id))

    def _tensorboard(self) -> Any:
        if self._writer is None and not self._writer_failed and self.path is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.tb_dir or self.path / TB_SUBDIR))
            except Exception:  # tensorboard missing or folder not writable: files still work
                self._writer_failed = True
                log.warning("Pareto archive: TensorBoard logging disabled", exc_info=True)
        return self._writer

    def _close_writer(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                log.exception("Pareto archive: closing TensorBoard writer failed")
            self._writer = None


def hyperparameters(config: dict[str, Any]) -> dict[str, int | float | str | bool]:
    """A trial config's hyperparameters for TensorBoard's HPARAMS view, flattened to
    ``a/b`` keys with scalar values: the architecture decisions under ``arch`` when the
    config has them (dppnas's trials, whose other sections are the same for every trial),
    otherwise the whole config (a Tune user's flat ``param_space``)."""
    arch = config.get("arch")
    chosen = {"arch": dict(arch)} if isinstance(arch, dict) else dict(config)
    return {
        k: v for k, v in flatten_dict(chosen).items() if isinstance(v, int | float | str | bool)
    }
