"""Build (or restore) a Ray Tune ``Tuner`` from a validated experiment."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dppnas.config import Experiment
from dppnas.data import DatasetSplits
from dppnas.errors import DppnasError

log = logging.getLogger(__name__)


def param_space(experiment: Experiment) -> dict[str, Any]:
    """The trial config: ``arch`` (one ``tune.choice`` per decision) plus constant sections.

    A resolved config is enough to rebuild and retrain the model (DESIGN section 3).
    """
    space = experiment.search_space
    return {
        "arch": space.tune_space(),
        "space": space.config(),
        "train": experiment.train.model_dump(mode="json"),
        "data": experiment.dataset.model_dump(mode="json"),
        "devices": experiment.devices,
        "seed": experiment.seed,
    }


def make_trainable(experiment: Experiment, data: DatasetSplits) -> Any:
    """The trainable with the dataset in Ray's object store (once) and per-trial resources."""
    from ray import tune

    from dppnas.train import train_architecture

    resources = {"cpu": experiment.resources.cpu, "gpu": experiment.resources.gpu}
    return tune.with_resources(tune.with_parameters(train_architecture, data=data), resources)


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (``trial_<id>``) instead of Tune's config-laden ones."""
    return f"trial_{trial.trial_id}"


def make_search_alg(experiment: Experiment, run_dir: Path | None = None) -> Any:
    """The experiment's searcher; ``run_dir`` is where it may write its own logs."""
    from search_algos import SEARCHERS

    spec = SEARCHERS.get(experiment.searcher.name, where="searcher.name")
    options = spec.options.model_validate(experiment.searcher.options)
    return spec.factory(experiment, options, run_dir)


def make_scheduler(experiment: Experiment) -> Any:
    from dppnas.tuning.schedulers import SCHEDULERS

    spec = SCHEDULERS.get(experiment.scheduler.name, where="scheduler.name")
    options = spec.options.model_validate(experiment.scheduler.options)
    return spec.factory(options, experiment.objectives, experiment.train.epochs)


def _run_config(
    experiment: Experiment, run_name: str, callbacks: Sequence[Any], verbose: bool
) -> Any:
    from ray import tune

    return tune.RunConfig(
        name=run_name,
        storage_path=experiment.storage_target(),
        callbacks=list(callbacks),
        verbose=2 if verbose else 0,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=experiment.max_failures),
    )


def build_tuner(
    experiment: Experiment,
    data: DatasetSplits,
    run_name: str,
    callbacks: Sequence[Any] = (),
    verbose: bool = False,
    trainable: Any = None,
) -> Any:
    """A fresh ``Tuner``: TuneConfig metric/mode stay None (objectives live on the searcher).

    ``trainable`` replaces :func:`make_trainable`'s (e.g. a benchmark table's replay).
    """
    from ray import tune

    return tune.Tuner(
        make_trainable(experiment, data) if trainable is None else trainable,
        param_space=param_space(experiment),
        tune_config=tune.TuneConfig(
            search_alg=make_search_alg(experiment, experiment.storage_dir() / run_name),
            scheduler=make_scheduler(experiment),
            num_samples=experiment.num_samples,
            max_concurrent_trials=experiment.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=_run_config(experiment, run_name, callbacks, verbose),
    )


def restore_tuner(
    experiment: Experiment, data: DatasetSplits, run_dir: Path, trainable: Any = None
) -> Any:
    """Continue the run in ``run_dir`` (searcher state, finished and unfinished trials).

    ``trainable`` must be the one the run started with (default: :func:`make_trainable`'s).
    """
    from ray import tune

    location = experiment.run_location() if experiment.remote_storage else str(run_dir)
    if not tune.Tuner.can_restore(location):
        raise DppnasError(
            f"--resume: no resumable run in {location}; start it without --resume "
            f"(or pass --name/--storage of an existing run)"
        )
    if not experiment.remote_storage:  # the snapshot files are read here (local runs only)
        check_last_snapshot(run_dir)
        for folder in fill_deleted_checkpoints(run_dir):
            log.warning("--resume: %s was deleted after the run's last snapshot; restored", folder)
    return tune.Tuner.restore(
        location,
        trainable=make_trainable(experiment, data) if trainable is None else trainable,
        resume_errored=True,
    )


def check_last_snapshot(run_dir: Path) -> None:
    """Refuse to resume from a snapshot of the run that was cut short.

    Tune copies its snapshot into the run folder file by file; a driver killed in the middle
    of the copy leaves an incomplete ``experiment_state-*.json``, from which Tune would
    silently start the whole experiment over. The snapshot before it is intact.
    """
    states = sorted(run_dir.glob("experiment_state-*.json"))  # Tune restores the last one
    if not states:
        return
    try:
        json.loads(states[-1].read_text())
    except (OSError, ValueError) as err:
        stamp = states[-1].name.removeprefix("experiment_state-").removesuffix(".json")
        raise DppnasError(
            f"--resume: {states[-1]} is incomplete (the driver stopped while Tune saved it: "
            f"{err}); move that session's files (*-{stamp}.json, *-{stamp}.pkl) out of "
            f"{run_dir} to resume from the snapshot before it"
        ) from None


def fill_deleted_checkpoints(run_dir: Path) -> list[Path]:
    """Give each unfinished trial of the run's last snapshot the checkpoint that snapshot names.

    Tune (``CheckpointConfig(num_to_keep=1)``) deletes a trial's previous checkpoint as soon as
    it registers a newer one, and the snapshot of the experiment naming the newer one reaches
    the run folder a moment later: a driver killed in between leaves a snapshot naming a
    deleted checkpoint, and the resumed trial fails ("does not exist on storage anymore").
    Each such checkpoint is restored as a copy of the trial's newest checkpoint (a later state
    of the same trial, which continues from there). The snapshot names a trial's checkpoint in
    its last result (``checkpoint_dir_name``); local run folders only. Returns the folders
    made; never raises (the resume then goes on as Tune would).
    """
    made: list[Path] = []
    try:
        states = sorted(run_dir.glob("experiment_state-*.json"))  # Tune restores the last
        if not states:
            return made
        for trial_state, run_metadata in json.loads(states[-1].read_text())["trial_data"]:
            trial = json.loads(trial_state) if isinstance(trial_state, str) else trial_state
            meta = json.loads(run_metadata) if isinstance(run_metadata, str) else run_metadata
            name = (meta.get("last_result") or {}).get("checkpoint_dir_name")
            if trial.get("status") == "TERMINATED" or not name:
                continue
            for trial_dir in run_dir.glob(f"*{trial['trial_id']}*"):
                newest = max(trial_dir.glob("checkpoint_*"), default=None)
                missing = trial_dir / name
                if newest is not None and not missing.exists() and newest.name > name:
                    shutil.copytree(newest, missing)
                    made.append(missing)
    except Exception:  # Tune's file layout changed, or a folder is unreadable
        log.warning("--resume: could not check the trials' checkpoints", exc_info=True)
    return made


def next_free_run_name(storage: Path, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... so that a new run never overwrites an old one."""
    candidate, i = name, 1
    while (storage / candidate).exists():
        i += 1
        candidate = f"{name}-{i}"
    return candidate
