"""Searchers by name: the experiment's ``searcher: {name: ..., options}`` picks one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from dppnas.pareto import Objective
from dppnas.registry import Registry


class SearchExperiment(Protocol):
    """What a searcher factory reads of an experiment (``dppnas.config.Experiment`` is one;
    searchers depend on this shape, not on the config module, which imports them)."""

    objectives: Sequence[Objective]
    seed: int
    num_samples: int
    max_concurrent: int | None
    devices: Mapping[str, Any]

    @property
    def search_space(self) -> Any: ...  # dppnas.spaces.SearchSpace


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class SearcherSpec:
    """A searcher's options model and a factory ``(experiment, options, run_dir)``.

    The factory returns a Tune ``SearchAlgorithm`` or ``Searcher`` for the experiment's
    ``param_space``; Tune wraps a ``Searcher`` in a ConcurrencyLimiter (max_concurrent).
    ``run_dir`` is the run's folder (for a searcher's own TensorBoard writer), or None when
    there is none (benchmarks).
    """

    options: type[BaseModel]
    factory: Callable[[SearchExperiment, BaseModel, Path | None], Any]
    summary: str


SEARCHERS: Registry[SearcherSpec] = Registry("searcher")


def register_searcher(
    name: str, options: type[BaseModel] = NoOptions, summary: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a searcher factory under ``name``."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        SEARCHERS.register(name)(SearcherSpec(options, factory, summary or (factory.__doc__ or "")))
        return factory

    return decorate
