"""``dppnas retrain``: one front architecture trained on the full budget as one Tune trial.

The trial runs :func:`dppnas.train.train_architecture` with the archived config, only
``train.epochs`` changed, so it reports the same metrics as during the search (test accuracy
and device objectives included) and checkpoints its weights like any search trial.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from dppnas.errors import DppnasError
from dppnas.results.run import RunResults


def retrain_config(config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The archived trial config with ``train.epochs`` set to ``epochs``."""
    if epochs < 1:
        raise DppnasError(f"--epochs: must be at least 1, got {epochs}")
    missing = [k for k in ("arch", "space", "train", "data", "devices") if k not in config]
    if missing:
        raise DppnasError(f"the archived config lacks {', '.join(missing)}; cannot retrain it")
    config = copy.deepcopy(config)
    config["train"]["epochs"] = epochs
    return config


def retrain(
    run: RunResults,
    epochs: int,
    rank: int | None = None,
    trial_id: str | None = None,
    storage: Path | None = None,
    cpus: float = 1,
) -> tuple[str, dict[str, Any], Path]:
    """Train the chosen entry for ``epochs``; returns its trial id, last metrics, result path.

    Results go to ``storage/retrain-<trial>-e<epochs>`` (default storage: ``RUN/retrain``).
    """
    from ray import tune
    from ray.tune.utils import flatten_dict

    from dppnas.data import load_dataset
    from dppnas.search import init_ray
    from dppnas.train import train_architecture
    from dppnas.tuning.tuner import next_free_run_name, trial_dirname

    entry = run.entry(rank=rank, trial_id=trial_id)
    config = retrain_config(entry.config, epochs)
    data = load_dataset(config["data"])
    storage = (storage or run.path / "retrain").resolve()
    name = next_free_run_name(storage, f"retrain-{entry.trial_id}-e{epochs}")
    init_ray(None)
    trainable = tune.with_resources(
        tune.with_parameters(train_architecture, data=data), {"cpu": cpus}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=config,
        tune_config=tune.TuneConfig(num_samples=1, trial_dirname_creator=trial_dirname),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage),
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    result = tuner.fit()[0]
    if result.error is not None:
        raise DppnasError(f"retraining trial {entry.trial_id} failed: {result.error}")
    return entry.trial_id, flatten_dict(dict(result.metrics or {})), storage / name
