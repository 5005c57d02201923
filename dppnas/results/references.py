"""Handcrafted reference networks, trained with a run's own recipe for comparison.

``dpp`` space: the DenseNet-BC cell (BN-ReLU-1x1 conv, BN-ReLU-3x3 conv) and the CondenseNet
cell (BN-ReLU-1x1 learned group conv, BN-ReLU-3x3 group conv) on the run's backbone.
``monas`` space: a plain AlexNet-like network, every layer 3x3 with the widest filter choice
(ours: the papers name no single reference in this space). Each is trained in-process with
the recipe (data, training options, devices, seed) of the run's first archived trial, and
cached in ``references.json`` next to the report so a second report does not retrain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dppnas.atomic import atomic_writer
from dppnas.errors import DppnasError
from dppnas.pareto.archive import flatten_metrics

REFERENCES_FILE = "references.json"


def reference_archs(space: Any) -> dict[str, dict[str, Any]]:
    """Name -> architecture of the handcrafted references expressible in ``space``."""
    candidates: dict[str, Any] = {}
    if space.name == "dpp":
        from dppnas.spaces.dpp import CONDENSENET_CELL, DENSENET_BC_CELL

        candidates = {"DenseNet-BC cell": DENSENET_BC_CELL, "CondenseNet cell": CONDENSENET_CELL}
        archs = {}
        for name, cell in candidates.items():
            try:
                archs[name] = space.encode(cell)
                space.decode(archs[name])
            except (DppnasError, ValueError, KeyError):
                continue  # an op of this cell is not among the space's choices
        return archs
    if space.name == "monas":
        arch = {}
        for d in space.decisions:
            if d.name.endswith("_filters"):
                arch[d.name] = max(d.choices)
            else:  # filter height / width: 3 when offered, else the nearest
                arch[d.name] = min(d.choices, key=lambda k: abs(int(k) - 3))
        return {"plain AlexNet-like (3x3, widest)": arch}
    return {}


def train_reference(config: Mapping[str, Any], arch: Mapping[str, Any]) -> dict[str, Any]:
    """Train ``arch`` with the recipe in ``config``; flattened metrics like a trial's last."""
    import torch

    from dppnas.config import TrainOptions
    from dppnas.data import load_dataset
    from dppnas.spaces import make_space
    from dppnas.train import Trainer, architecture_costs

    options = TrainOptions.model_validate(config["train"])
    data = load_dataset(config["data"])
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    model = make_space(config["space"]).build(dict(arch), data.input_shape, data.num_classes)
    costs = architecture_costs(model, data.input_shape, config["devices"])
    trainer = Trainer(model, data, options, seed=seed)
    while trainer.epoch < options.epochs:
        trainer.train_epoch()
    return flatten_metrics(
        {"accuracy": trainer.evaluate("val"), "test_accuracy": trainer.evaluate("test"), **costs}
    )


def references(
    recipe: Mapping[str, Any], out: Path, log: Callable[[str], None] = print
) -> list[tuple[str, dict[str, Any]]]:
    """(name, metrics) of every reference for ``recipe``'s space, trained or from the cache."""
    from dppnas.spaces import make_space

    cache_path = out / REFERENCES_FILE
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    key_recipe = {k: recipe[k] for k in ("space", "train", "data", "devices") if k in recipe}
    rows = []
    for name, arch in reference_archs(make_space(recipe["space"])).items():
        cached = cache.get(name)
        if cached and cached["arch"] == arch and cached["recipe"] == key_recipe:
            rows.append((name, cached["metrics"]))
            continue
        log(f"report: training reference {name!r} with the run's recipe")
        metrics = train_reference({**recipe, "arch": arch}, arch)
        cache[name] = {"arch": arch, "recipe": key_recipe, "metrics": metrics}
        rows.append((name, metrics))
    with atomic_writer(cache_path) as handle:
        json.dump(cache, handle, indent=1)
    return rows
