"""The trainer (no Ray): it learns, and a restored trainer continues identically."""

from __future__ import annotations

import io

import torch

from dppnas.config import TrainOptions
from dppnas.data import load_dataset
from dppnas.spaces import make_space

SPACE = {"name": "dpp", "max_depth": 2, "cells_per_stage": [1], "growth": [8]}


def _model(data, seed=0):
    torch.manual_seed(seed)
    space = make_space(SPACE)
    from dppnas.spaces.dpp import CONDENSENET_CELL

    return space.build(space.encode(CONDENSENET_CELL), data.input_shape, data.num_classes)


def test_trainer_learns_digits():
    from dppnas.train import Trainer

    data = load_dataset({"name": "digits"})
    trainer = Trainer(_model(data), data, TrainOptions(epochs=6, lr=0.1, batch_size=64))
    before = trainer.evaluate()
    for _ in range(6):
        trainer.train_epoch()
    after = trainer.evaluate()
    assert after > 0.6 and after > before + 0.3  # chance is 0.1


def test_restored_trainer_continues_identically():
    from dppnas.train import Trainer

    data = load_dataset({"name": "digits"})
    options = TrainOptions(epochs=2, lr=0.05, batch_size=64)
    straight = Trainer(_model(data), data, options, seed=3)
    straight.train_epoch()
    straight.train_epoch()

    first = Trainer(_model(data), data, options, seed=3)
    first.train_epoch()
    weights, state = io.BytesIO(), io.BytesIO()
    torch.save(first.model.state_dict(), weights)
    torch.save(first.state_dict(), state)
    weights.seek(0), state.seek(0)

    resumed = Trainer(_model(data, seed=99), data, options, seed=0)
    resumed.model.load_state_dict(torch.load(weights, weights_only=True))
    resumed.load_state_dict(torch.load(state, weights_only=True))
    resumed.train_epoch()
    pairs = zip(
        straight.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    )
    for a, b in pairs:
        assert torch.equal(a, b)
    assert resumed.epoch == 2 and resumed.step == straight.step
