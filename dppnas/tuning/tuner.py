"""Build (or restore) a Ray Tune ``Tuner`` from a validated experiment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dppnas.config import Experiment
from dppnas.data import DatasetSplits
from dppnas.errors import DppnasError
from dppnas.tuning.snapshots import prepare_resume


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
        prepare_resume(run_dir)
    return tune.Tuner.restore(
        location,
        trainable=make_trainable(experiment, data) if trainable is None else trainable,
        resume_errored=True,
    )


def next_free_run_name(storage: Path, name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... so that a new run never overwrites an old one."""
    candidate, i = name, 1
    while (storage / candidate).exists():
        i += 1
        candidate = f"{name}-{i}"
    return candidate
