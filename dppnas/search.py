"""``dppnas search``: load data, start (or join) Ray, run the Tuner, print the Pareto front."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from dppnas.config import Experiment
from dppnas.data import load_dataset
from dppnas.errors import DppnasError


def init_ray(address: str | None, verbose: bool = False) -> None:
    """Join the cluster at ``address`` ('auto', HOST:PORT) or start a local Ray.

    Worker logs reach the terminal only with ``verbose``; errors still surface through Tune.
    """
    import ray

    # Cheap trials checkpoint often; Tune's snapshot-frequency warning is noise for us.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=verbose,
        )
    except ConnectionError as err:
        raise DppnasError(
            f"--address {address}: cannot connect to a Ray cluster ({err}); "
            f"start one with `ray start --head` or `ray up cluster.yaml`"
        ) from None


def run_search(
    experiment: Experiment,
    address: str | None = None,
    resume: bool = False,
    verbose: bool = False,
    stream: TextIO | None = None,
    trainable: Any = None,
    callbacks: Sequence[Any] = (),
) -> int:
    """Run the experiment end to end; returns the exit code (0, or 1 when no trial finished).

    ``trainable`` replaces the experiment's (real training) trainable, e.g. a benchmark
    table's :class:`~dppnas.bench.replay.TabularTrainable`; a resumed run needs the same one.
    ``callbacks`` are Tune callbacks added after the progress line and the archive (a resumed
    run keeps the callbacks it started with: Tune restores them with the run).

    The run's Pareto archive (``pareto.json``, ``pareto.csv``, ``pareto.png`` and TensorBoard
    scalars under ``search/``) is kept by :class:`ParetoArchiveCallback`; on ``resume`` Tune
    restores that callback with the run, and it reloads the archive from ``pareto.json``.
    """
    from dppnas.tuning.archive_callback import ARCHIVE_FILE, ParetoArchiveCallback
    from dppnas.tuning.front import format_table, load_run_archive
    from dppnas.tuning.progress import ProgressCallback
    from dppnas.tuning.tuner import build_tuner, next_free_run_name, restore_tuner

    out = stream or sys.stdout
    data = load_dataset(experiment.dataset)
    print(f"dataset: {data.describe()}", file=out)
    space = experiment.search_space
    print(f"space: {space.name} ({space.size()} architectures)", file=out)
    init_ray(address, verbose)

    storage = experiment.storage_dir()
    remote = experiment.remote_storage
    if resume:
        run_name = experiment.name
        tuner = restore_tuner(experiment, data, experiment.run_dir(), trainable=trainable)
    else:
        # remote storage (s3://...): Tune's own folder name; the archive is written to Tune's
        # driver staging folder, which Tune uploads with the run
        run_name = experiment.name if remote else next_free_run_name(storage, experiment.name)
        run_callbacks = [
            ProgressCallback(experiment.objectives, experiment.num_samples, stream=out),
            ParetoArchiveCallback(
                experiment.objectives, path=None if remote else storage / run_name
            ),
            *callbacks,
        ]
        tuner = build_tuner(
            experiment, data, run_name, run_callbacks, verbose=verbose, trainable=trainable
        )
    run_dir = storage / run_name
    print(
        f"results: {experiment.run_location(run_name) if remote else run_dir}", file=out, flush=True
    )
    results = tuner.fit()

    # with remote storage the archive is rebuilt here from Tune's results
    archive = load_run_archive(run_dir / ARCHIVE_FILE, experiment.objectives, results)
    front = archive.front()
    everything = archive.entries + archive.partial
    finished = sum(e.final for e in everything)
    stopped = len(everything) - finished
    errored = sum(1 for r in results if r.error is not None)
    early = f"{stopped} stopped early, " if stopped else ""
    print(
        f"\n{finished} trials finished, {early}{errored} errored; Pareto front "
        f"({len(front)} non-dominated, hypervolume {archive.hypervolume():.4g}) over "
        f"{', '.join(o.metric for o in experiment.objectives)}:",
        file=out,
    )
    print(format_table(front, experiment.objectives, describe=space.describe), file=out)
    where = experiment.run_location(run_name) if remote else run_dir
    print(f"\nresults: {where}   (tensorboard --logdir {where})", file=out, flush=True)
    return 0 if finished else 1
