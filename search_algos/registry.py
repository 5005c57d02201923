"""Searchers by name: the experiment's ``searcher: {name: ..., options}`` picks one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from dppnas.registry import Registry

if TYPE_CHECKING:
    from dppnas.config import Experiment


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
    factory: Callable[[Experiment, BaseModel, Path | None], Any]
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
