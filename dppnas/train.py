"""The trial: build the sampled network, train it on real data, measure it, report.

:class:`Trainer` is plain PyTorch (usable without Ray: benchmarks, retraining);
:func:`train_architecture` is the Ray Tune function trainable around it. Each epoch reports
the metrics of DESIGN section 3: ``accuracy`` (validation, 0-1), ``params``, ``flops`` (per
image), ``latency/<device>`` (ms), ``energy/<device>`` (mJ, for devices that model it),
``epochs`` (the full budget), ``final`` (true only after the full budget) and, on the last
report only, ``test_accuracy``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dppnas.complexity import count_flops, count_params
from dppnas.config import TrainOptions
from dppnas.data import DatasetSplits, iterate_batches
from dppnas.devices import make_devices
from dppnas.errors import DppnasError
from dppnas.nn import deploy, set_condensation_progress
from dppnas.spaces import make_space

MODEL_FILE = "model.pt"
TRAINER_FILE = "trainer.pt"
CONFIG_FILE = "config.json"


def resolve_device(choice: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is a user error."""
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DppnasError("train.device: cuda requested but no CUDA device is visible")
        return torch.device("cuda")
    return torch.device("cpu")


class Trainer:
    """Trains ``model`` on ``data`` with SGD (Nesterov) or Adam and a per-step cosine schedule.

    Batches are sliced from tensors resident on the training device; bf16 autocast and
    channels_last are used on CUDA unless switched off.
    """

    def __init__(
        self,
        model: nn.Module,
        data: DatasetSplits,
        options: TrainOptions,
        device: torch.device | None = None,
        seed: int = 0,
    ) -> None:
        self.options = options
        self.device = device or resolve_device(options.device)
        self.data = data.to(self.device)
        cuda = self.device.type == "cuda"
        self.amp = options.amp == "bf16" or (options.amp == "auto" and cuda)
        self.memory_format = (
            torch.channels_last
            if options.channels_last == "on" or (options.channels_last == "auto" and cuda)
            else torch.contiguous_format
        )
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.optimizer = self._make_optimizer()
        self.steps_per_epoch = max(1, len(self.data.y_train) // options.batch_size)
        self.total_steps = self.steps_per_epoch * options.epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: (
                0.5 * (1 + math.cos(math.pi * min(step, self.total_steps) / self.total_steps))
            ),
        )
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.step = 0
        self.epoch = 0

    def _make_optimizer(self) -> torch.optim.Optimizer:
        o = self.options
        params = self.model.parameters()
        if o.optimizer == "adam":
            return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        return torch.optim.SGD(
            params,
            lr=o.lr,
            momentum=o.momentum,
            nesterov=o.nesterov and o.momentum > 0,
            weight_decay=o.weight_decay,
        )

    def _autocast(self):
        if self.amp:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def train_epoch(self) -> float:
        """One pass over the training split; returns the mean training loss."""
        self.model.train()
        total = torch.zeros((), device=self.device)
        batches = 0
        n = len(self.data.y_train)
        for xb, yb in iterate_batches(
            self.data.x_train,
            self.data.y_train,
            self.options.batch_size,
            shuffle=True,
            augment=self.data.augment,
            generator=self.generator,
            drop_last=n >= self.options.batch_size,
        ):
            set_condensation_progress(self.model, self.step / self.total_steps)
            xb = xb.contiguous(memory_format=self.memory_format)
            with self._autocast():
                loss = F.cross_entropy(
                    self.model(xb), yb, label_smoothing=self.options.label_smoothing
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            total += loss.detach().float()
            batches += 1
        self.epoch += 1
        mean = float(total) / max(batches, 1)
        if not math.isfinite(mean):
            raise FloatingPointError(f"training loss became {mean} in epoch {self.epoch}")
        return mean

    @torch.inference_mode()
    def evaluate(self, split: str = "val") -> float:
        """Top-1 accuracy (0-1) on ``split`` ("val" or "test")."""
        x, y = getattr(self.data, f"x_{split}"), getattr(self.data, f"y_{split}")
        self.model.eval()
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        for xb, yb in iterate_batches(x, y, self.options.eval_batch_size, shuffle=False):
            with self._autocast():
                logits = self.model(xb.contiguous(memory_format=self.memory_format))
            correct += (logits.argmax(1) == yb).sum()
        return float(correct) / max(len(y), 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "step": self.step,
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])


def architecture_costs(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    devices: Mapping[str, Any],
    arch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Params, FLOPs per image and per-device latency (ms) / energy (mJ) of the deployed net.

    Measured on :func:`dppnas.nn.deploy`'s inference form (learned group convolutions
    condensed), on the CPU copy, before training: the cost does not depend on the weights.
    """
    deployed = deploy(model).cpu()
    costs: dict[str, Any] = {
        "params": count_params(deployed),
        "flops": count_flops(deployed, input_shape),
        "latency": {},
    }
    energy = {}
    for name, device in make_devices(devices).items():
        by_arch = {"arch": arch} if device.uses_architecture else {}
        costs["latency"][name] = float(device.latency_ms(deployed, input_shape, **by_arch))
        if device.provides_energy:
            energy[name] = float(device.energy_mj(deployed, input_shape, **by_arch))
    if energy:
        costs["energy"] = energy
    return costs


def save_checkpoint(directory: str, model: nn.Module, trainer: Trainer, config: Mapping) -> None:
    """Weights (``model.pt``, loadable with ``weights_only=True``), trainer state, config."""
    torch.save(model.state_dict(), os.path.join(directory, MODEL_FILE))
    torch.save(trainer.state_dict(), os.path.join(directory, TRAINER_FILE))
    with open(os.path.join(directory, CONFIG_FILE), "w") as f:
        json.dump(_jsonable(config), f, indent=1)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def _cpu_share(default: int = 1) -> int:
    """Whole CPUs Ray gave this trial (at least 1)."""
    try:
        from ray import tune

        resources = tune.get_context().get_trial_resources().required_resources
        return max(1, int(resources.get("CPU", default)))
    except Exception:  # outside a Tune trial
        return default


def train_architecture(config: dict[str, Any], data: DatasetSplits) -> None:
    """Ray Tune function trainable: one architecture, trained for ``train.epochs`` epochs.

    ``config`` holds ``arch`` (the decisions), ``space`` (name + options), ``train``,
    ``data`` (the dataset section, for the record) and ``devices``; ``data`` is the loaded
    dataset, put in Ray's object store once with ``tune.with_parameters``. Resumes from
    ``tune.get_checkpoint()`` so FailureConfig retries continue where they stopped; restored
    from its last checkpoint, it reports its final result again (without ``train_loss``).
    """
    from ray import tune

    options = TrainOptions.model_validate(config["train"])
    torch.set_num_threads(options.threads or _cpu_share())
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)
    space = make_space(config["space"])
    model = space.build(config["arch"], data.input_shape, data.num_classes)
    costs = architecture_costs(model, data.input_shape, config["devices"], config["arch"])
    trainer = Trainer(model, data, options, seed=seed)

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            trainer.model.load_state_dict(
                torch.load(
                    os.path.join(directory, MODEL_FILE),
                    weights_only=True,
                    map_location=trainer.device,
                )
            )
            trainer.load_state_dict(
                torch.load(
                    os.path.join(directory, TRAINER_FILE), weights_only=False, map_location="cpu"
                )
            )

    if trainer.epoch >= options.epochs:
        # Restored from its last checkpoint: the run's snapshot may predate the last report
        # (a killed driver), so report the final result again, from the restored weights.
        metrics: dict[str, Any] = {
            "accuracy": trainer.evaluate("val"),
            "epochs": options.epochs,
            "final": True,
        }
        tune.report({**metrics, **costs, "test_accuracy": trainer.evaluate("test")})
    while trainer.epoch < options.epochs:
        train_loss = trainer.train_epoch()
        final = trainer.epoch == options.epochs
        metrics = {
            "accuracy": trainer.evaluate("val"),
            "train_loss": train_loss,
            "epochs": options.epochs,
            "final": final,
            **costs,
        }
        if final:
            metrics["test_accuracy"] = trainer.evaluate("test")
        every = options.checkpoint_every
        if final or (every and trainer.epoch % every == 0):
            with tempfile.TemporaryDirectory() as directory:
                save_checkpoint(directory, trainer.model, trainer, config)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        else:
            tune.report(metrics)
