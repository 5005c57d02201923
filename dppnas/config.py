"""Experiment files: the YAML schema (pydantic v2), loading and validation with clear errors.

Every user error becomes one :class:`~dppnas.errors.ConfigError` line of the form
``FILE: key.path: what is wrong (how to fix it)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from dppnas.data import DataOptions
from dppnas.devices import DEFAULT_DEVICES, DeviceOptions, make_device, validate_device_options
from dppnas.errors import ConfigError, short_repr, short_text, validate_section
from dppnas.pareto import Objective

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: Metrics every trial reports, with the direction that makes sense for each.
ARCH_METRICS: dict[str, str] = {"accuracy": "max", "params": "min", "flops": "min"}


def folder_name(value: str) -> str:
    """``value`` when it can name a folder of its own (no ``/``, no leading dot)."""
    if not _NAME.match(value):
        raise ValueError(
            f"{short_repr(value)} is not usable as a folder name; use letters, digits, '.', "
            f"'_' and '-'"
        )
    return value


class TrainOptions(BaseModel):
    """How each trial trains its network. Defaults are ours, chosen for short proxy runs."""

    model_config = ConfigDict(extra="forbid")
    epochs: PositiveInt = Field(3, description="training budget per trial, in epochs")
    batch_size: PositiveInt = 64
    eval_batch_size: PositiveInt = 1024
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.05, gt=0, description="peak learning rate (cosine schedule to 0)")
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "bf16", "off"] = Field(
        "auto", description="bf16 autocast; auto = on for CUDA, off on CPU"
    )
    channels_last: Literal["auto", "on", "off"] = "auto"
    checkpoint_every: int = Field(
        1, ge=0, description="epochs between checkpoints (0 = only at the end)"
    )
    threads: int | None = Field(
        None, ge=1, description="torch threads per trial; default = the trial's CPU share"
    )


class Resources(BaseModel):
    """Resources one trial asks Ray for."""

    model_config = ConfigDict(extra="forbid")
    cpu: float = Field(1.0, gt=0)
    gpu: float = Field(0.0, ge=0)


class NamedSection(BaseModel):
    """A section chosen by ``name`` whose other keys are that component's options."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Experiment(BaseModel):
    """An experiment file. Name-dependent sections are checked by :func:`parse_experiment`."""

    model_config = ConfigDict(extra="forbid")
    name: str
    seed: int = 0
    dataset: DataOptions
    space: NamedSection
    searcher: NamedSection = NamedSection(name="random")
    objectives: list[Objective] = Field(min_length=1)
    devices: dict[str, dict[str, Any]] = Field(default_factory=lambda: dict(DEFAULT_DEVICES))
    train: TrainOptions = TrainOptions()
    scheduler: NamedSection = NamedSection(name="fifo")
    num_samples: PositiveInt = 16
    max_concurrent: PositiveInt | None = None
    resources: Resources = Resources()
    storage_path: str = "runs"
    max_failures: int = Field(0, ge=-1, description="retries per trial (-1 = forever)")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        return folder_name(value)

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_mapping(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and not value:
            raise ValueError("at least one device is needed (e.g. local-cpu: {kind: measured})")
        return value

    # ---- validated views of the name-dependent sections (built by parse_experiment) ----

    @cached_property
    def search_space(self):  # -> dppnas.spaces.SearchSpace
        from dppnas.spaces import make_space

        return make_space({"name": self.space.name, **self.space.options})

    @cached_property
    def device_options(self) -> dict[str, DeviceOptions]:
        return {n: validate_device_options(n, o) for n, o in self.devices.items()}

    @cached_property
    def metrics(self) -> dict[str, str]:
        """Every metric a trial of this experiment reports that can be an objective."""
        known = dict(ARCH_METRICS)
        for name, opts in self.device_options.items():
            known[f"latency/{name}"] = "min"
            if make_device(name, opts).provides_energy:
                known[f"energy/{name}"] = "min"
        return known

    @property
    def remote_storage(self) -> bool:
        """Whether runs go to a URI (``s3://bucket/runs``, ``gs://...``) rather than a folder."""
        return "://" in self.storage_path

    def storage_target(self) -> str:
        """Tune's ``storage_path``: the URI, or the absolute local folder."""
        return self.storage_path.rstrip("/") if self.remote_storage else str(self.storage_dir())

    def storage_dir(self) -> Path:
        """Absolute local folder of this experiment's runs (Tune needs it absolute). With
        remote storage, the local folder of what is written beside Tune's files (the
        searchers' own TensorBoard logs): ``~/dppnas_runs``."""
        if self.remote_storage:
            return Path("~/dppnas_runs").expanduser().resolve()
        return Path(self.storage_path).expanduser().resolve()

    def run_dir(self) -> Path:
        return self.storage_dir() / self.name

    def run_location(self, run_name: str | None = None) -> str:
        """Where Tune keeps the run ``run_name`` (default: the experiment's name)."""
        return f"{self.storage_target()}/{run_name or self.name}"


def parse_experiment(data: Any) -> Experiment:
    """Validate an experiment mapping completely; raise one-line :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"an experiment must be a mapping of keys (name, dataset, space, ...), "
            f"got {type(data).__name__}"
        )
    experiment: Experiment = validate_section(Experiment, dict(data), "")  # type: ignore[assignment]
    _check_sections(experiment)
    return experiment


def _check_sections(exp: Experiment) -> None:
    from dppnas.data import DATASETS
    from dppnas.tuning.schedulers import SCHEDULERS
    from search_algos import SEARCHERS

    DATASETS.get(exp.dataset.name, where="dataset.name")
    exp.search_space  # noqa: B018 - validates space.* and raises ConfigError
    exp.device_options  # noqa: B018 - validates devices.*
    searcher = SEARCHERS.get(exp.searcher.name, where="searcher.name")
    validate_section(searcher.options, exp.searcher.options, "searcher")
    scheduler = SCHEDULERS.get(exp.scheduler.name, where="scheduler.name")
    options = validate_section(scheduler.options, exp.scheduler.options, "scheduler")
    try:  # options that are valid alone but not together (grace_period > max_t)
        scheduler.factory(options, exp.objectives, exp.train.epochs)
    except ValueError as err:
        raise ConfigError(f"scheduler: {short_text(str(err), 200)}") from None
    _check_objectives(exp)


def _check_objectives(exp: Experiment) -> None:
    known = exp.metrics
    seen: set[str] = set()
    for i, obj in enumerate(exp.objectives):
        where = f"objectives.{i}"
        if obj.metric not in known:
            device = obj.metric.partition("/")[2]
            if obj.metric.startswith(("latency/", "energy/")) and device not in exp.devices:
                raise ConfigError(
                    f"{where}.metric: {obj.metric!r} names device {device!r}, which is not in "
                    f"`devices` (configured: {', '.join(exp.devices)})"
                )
            if obj.metric.startswith("energy/"):
                reason = make_device(device, exp.device_options[device]).energy_unavailable_reason()
                raise ConfigError(
                    f"{where}.metric: {obj.metric!r}: {reason}; use a device that models energy "
                    f"(e.g. kind: roofline) or drop this objective"
                )
            raise ConfigError(
                f"{where}.metric: unknown metric {obj.metric!r}; available: {', '.join(known)}"
            )
        if obj.metric in seen:
            raise ConfigError(f"{where}.metric: {obj.metric!r} is listed twice")
        seen.add(obj.metric)
        if obj.mode != known[obj.metric]:
            raise ConfigError(
                f"{where}.mode: {obj.metric} is to be {known[obj.metric]}imised; "
                f"use mode: {known[obj.metric]}"
            )
        if not math.isfinite(obj.ref):
            raise ConfigError(f"{where}.ref: must be a finite number")
        if obj.metric == "accuracy" and not 0.0 <= obj.ref <= 1.0:
            raise ConfigError(
                f"{where}.ref: accuracy is a fraction in [0, 1], got {obj.ref} "
                f"(a reference of 0.0 counts every accuracy)"
            )
        if obj.mode == "min" and obj.ref <= 0:
            raise ConfigError(
                f"{where}.ref: {obj.metric} is a positive cost; its reference must be > 0 "
                f"(an upper bound, e.g. the worst value you would accept)"
            )


#: values an experiment document may hold once YAML aliases are expanded
MAX_VALUES = 100_000


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds with every shared object counted each time it appears
    (what a YAML alias bomb multiplies); linear in the distinct objects, not in the result."""
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if not isinstance(value, dict | list) or depth > 200:
            return 1
        if id(value) not in sizes:
            items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
            sizes[id(value)] = 1 + sum(size(v, depth + 1) for v in items)
        return sizes[id(value)]

    return size(data, 0)


def load_experiment(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Experiment:
    """Read, validate and return the experiment at ``path``; ``overrides`` replace top-level keys.

    Errors are prefixed with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: experiment file not found (give the path to a .yaml file)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the file: {err}") from None
    except (ValueError, RecursionError) as err:  # a 5,000-digit integer; nesting too deep
        raise ConfigError(f"{path}: not usable YAML: {short_text(str(err), 100)}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; see experiments/quickstart.yaml")
    if expanded_size(data) > MAX_VALUES:
        raise ConfigError(
            f"{path}: the document expands to more than {MAX_VALUES:,} values (YAML aliases "
            f"repeat what they name); an experiment needs far fewer"
        )
    if isinstance(data, Mapping) and overrides:
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return parse_experiment(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
