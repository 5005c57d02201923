"""``TabularTrainable``: a Tune trainable that replays a table instead of training."""

from __future__ import annotations

from typing import Any


class TabularTrainable:
    """Function trainable reporting a table entry's per-epoch metrics through ``tune.report``.

    Reports exactly what :func:`dppnas.train.train_architecture` reports (DESIGN section 3:
    ``accuracy``, ``params``, ``flops``, ``latency/local-cpu``, ``epochs``, ``final``,
    ``test_accuracy`` on the last report), one report per epoch, with no training, so Tune,
    the searchers and MO-ASHA run unchanged at thousands of trials per minute. Picklable: it
    holds the table's name or path and loads it (cached) in the worker.
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self.__name__ = "tabular"

    def __call__(self, config: dict[str, Any]) -> None:
        from ray import tune

        from dppnas.bench.table import load_table

        entry = load_table(self.table).lookup(config["arch"])
        for epoch in range(1, entry.epochs + 1):
            final = epoch == entry.epochs
            metrics: dict[str, Any] = {
                "accuracy": entry.val_accuracy[epoch - 1],
                "params": entry.params,
                "flops": entry.flops,
                "latency": {"local-cpu": entry.latency_ms},
                "epochs": entry.epochs,
                "final": final,
            }
            if final:
                metrics["test_accuracy"] = entry.test_accuracy
            tune.report(metrics)
