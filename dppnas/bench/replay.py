"""``TabularTrainable``: a Tune trainable that replays a table instead of training."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

CHECKPOINT_FILE = "replay.json"


class TabularTrainable:
    """Function trainable reporting a table entry's per-epoch metrics through ``tune.report``.

    Reports exactly what :func:`dppnas.train.train_architecture` reports (DESIGN section 3:
    ``accuracy``, ``params``, ``flops``, ``latency/<device>`` for each of the table's devices,
    ``epochs``, ``final``, ``test_accuracy`` on the last report), one report per epoch, with no training, so Tune,
    the searchers and MO-ASHA run unchanged at thousands of trials per minute. Picklable: it
    holds the table's name or path and loads it (cached) in the worker.

    ``checkpoint_every`` (epochs) makes it also checkpoint like ``train_architecture`` with
    ``train.checkpoint_every``: every N epochs and after the last one (0: only after the last);
    a checkpoint is a tiny JSON of the epochs done. A retried or resumed trial then continues
    from it (restored from its last one, it reports its final result again), and Tune
    snapshots the run as often as with real training (``scripts/chaos.py``).
    None (the default, the fastest): no checkpoints.
    """

    def __init__(self, table: str, checkpoint_every: int | None = None) -> None:
        self.table = table
        self.checkpoint_every = checkpoint_every
        self.__name__ = "tabular"

    def __call__(self, config: dict[str, Any]) -> None:
        from ray import tune

        from dppnas.bench.table import load_table

        entry = load_table(self.table).lookup(config["arch"])
        start = 0
        checkpoint = tune.get_checkpoint()
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                start = _epochs_done(directory)
        if start >= entry.epochs:  # restored from its last checkpoint: report it again
            tune.report(_metrics(entry, entry.epochs))
        for epoch in range(start + 1, entry.epochs + 1):
            metrics = _metrics(entry, epoch)
            final = epoch == entry.epochs
            every = self.checkpoint_every
            if every is not None and (final or (every and epoch % every == 0)):
                with tempfile.TemporaryDirectory() as directory:
                    with open(os.path.join(directory, CHECKPOINT_FILE), "w") as f:
                        json.dump({"epoch": epoch}, f)
                    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
            else:
                tune.report(metrics)


def _metrics(entry: Any, epoch: int) -> dict[str, Any]:
    """What ``train_architecture`` reports after ``epoch`` epochs (DESIGN section 3): the
    entry's metrics, ``latency/<device>`` nested as ``{"latency": {device: ms}}``."""
    final = epoch == entry.epochs
    metrics: dict[str, Any] = {}
    for name, value in entry.metrics(epoch).items():
        group, slash, device = name.partition("/")
        if slash:
            metrics.setdefault(group, {})[device] = value
        else:
            metrics[name] = value
    metrics |= {"epochs": entry.epochs, "final": final}
    if final:
        metrics["test_accuracy"] = entry.test_accuracy
    return metrics


def _epochs_done(directory: str) -> int:
    with open(os.path.join(directory, CHECKPOINT_FILE)) as f:
        return int(json.load(f)["epoch"])
