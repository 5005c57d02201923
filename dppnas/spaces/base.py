"""The search-space contract (DESIGN section 3) and the space registry.

A space is an ordered list of categorical :class:`Decision` s plus a decoder from an architecture
(``{decision name: choice}``, JSON-able, what a trial config carries under ``"arch"``) to the
space's genotype (a frozen dataclass) and a builder of the PyTorch model. The same decisions give
Ray Tune's ``param_space`` (:meth:`SearchSpace.tune_space`), so random search and Optuna run on a
space unchanged.
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel
from torch import nn

from dppnas.errors import ConfigError, DppnasError, validate_section
from dppnas.registry import Registry


@dataclass(frozen=True)
class Decision:
    """One categorical decision: its ``name`` and its ``choices`` (JSON-able scalars)."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ValueError(f"decision {self.name!r} has no choices")

    def match(self, value: Any) -> Any:
        """The choice equal to ``value`` (canonical Python type); ``KeyError`` when none is."""
        for choice in self.choices:
            if isinstance(value, bool) != isinstance(choice, bool):
                continue
            if isinstance(choice, str) != isinstance(value, str):
                continue
            if isinstance(choice, numbers.Number) and not isinstance(value, numbers.Number):
                continue
            if choice == value:
                return choice
        raise KeyError(value)


def check_choices(values: Sequence[Any]) -> Sequence[Any]:
    """Validator for an option that lists choices: non-empty, without repeats."""
    if len(values) == 0:
        raise ValueError("needs at least one choice")
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"lists {value!r} twice")
        seen.add(value)
    return values


class SearchSpace(ABC):
    """Base class of the search spaces; subclasses register themselves in :data:`SPACES`.

    ``options`` is a pydantic model instance of :attr:`Options` (``extra="forbid"``, every field
    defaulted); a mapping is validated with errors named ``space.<key>``.
    """

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    #: the class of the space's genotypes (what :meth:`decode` returns)
    genotype_type: ClassVar[type]

    def __init__(self, options: BaseModel | Mapping[str, Any] | None = None) -> None:
        if options is None:
            options = self.Options()
        elif isinstance(options, self.Options):
            pass
        elif isinstance(options, BaseModel):
            options = validate_section(self.Options, options.model_dump(), "space")
        elif isinstance(options, Mapping):
            options = validate_section(self.Options, dict(options), "space")
        else:
            raise ConfigError(f"space: expected a mapping of options, got {type(options).__name__}")
        self.options = options

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options!r})"

    # --- decisions ----------------------------------------------------------------------------

    @property
    def decisions(self) -> list[Decision]:
        """The ordered categorical decisions."""
        return list(self._decisions())

    @abstractmethod
    def _decisions(self) -> Iterable[Decision]: ...

    def tune_space(self) -> dict[str, Any]:
        """Ray Tune ``param_space`` entries: ``{name: tune.choice(choices)}`` in decision order."""
        from ray import tune

        return {d.name: tune.choice(list(d.choices)) for d in self.decisions}

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **options}``: JSON-able, enough for :func:`make_space` to recreate it."""
        return {"name": self.name, **self.options.model_dump(mode="json")}

    # --- genotypes ----------------------------------------------------------------------------

    @abstractmethod
    def decode(self, arch: Mapping[str, Any]) -> Any:
        """The genotype of ``arch``; a :class:`DppnasError` naming the bad decision otherwise."""

    @abstractmethod
    def encode(self, genotype: Any) -> dict[str, Any]:
        """The canonical architecture dict of ``genotype`` (unused decisions: first choice)."""

    @abstractmethod
    def size(self) -> int:
        """Number of distinct architectures (distinct genotypes)."""

    def describe(self, arch: Mapping[str, Any] | Any) -> str:
        """A short one-line summary of an architecture (dict or genotype), for tables."""
        return self._describe(self.genotype(arch))

    @abstractmethod
    def _describe(self, genotype: Any) -> str: ...

    def genotype(self, arch: Mapping[str, Any] | Any) -> Any:
        """``arch`` as a validated genotype: decoded if a mapping, checked if a genotype."""
        if isinstance(arch, Mapping):
            return self.decode(arch)
        if isinstance(arch, self.genotype_type):
            return self.decode(self.encode(arch))
        raise DppnasError(
            f"space {self.name!r}: expected an architecture dict or a "
            f"{self.genotype_type.__name__}, got {type(arch).__name__}"
        )

    # --- models -------------------------------------------------------------------------------

    def build(
        self,
        arch: Mapping[str, Any] | Any,
        input_shape: tuple[int, int, int],
        num_classes: int,
    ) -> nn.Module:
        """The model of ``arch``: float ``(N, C, H, W)`` -> logits ``(N, num_classes)``."""
        genotype = self.genotype(arch)
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(s, numbers.Integral) and s >= 1 for s in shape):
            raise DppnasError(f"input_shape must be (C, H, W) with positive sides, got {shape}")
        if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
            raise DppnasError(f"num_classes must be a positive integer, got {num_classes!r}")
        c, h, w = (int(s) for s in shape)
        return self._build(genotype, (c, h, w), int(num_classes))

    @abstractmethod
    def _build(
        self, genotype: Any, input_shape: tuple[int, int, int], num_classes: int
    ) -> nn.Module: ...

    # --- helpers for subclasses ---------------------------------------------------------------

    def _value(self, arch: Mapping[str, Any], decision: Decision, required: bool = True) -> Any:
        """The validated choice of ``decision`` in ``arch`` (``None`` if absent and optional)."""
        if not isinstance(arch, Mapping):
            raise DppnasError(
                f"space {self.name!r}: an architecture is a mapping of decisions, "
                f"got {type(arch).__name__}"
            )
        if decision.name not in arch:
            if not required:
                return None
            raise DppnasError(
                f"arch.{decision.name}: required decision is missing (space {self.name!r})"
            )
        value = arch[decision.name]
        try:
            return decision.match(value)
        except (KeyError, TypeError):
            choices = ", ".join(repr(c) for c in decision.choices)
            raise DppnasError(
                f"arch.{decision.name}: {value!r} is not a choice of space {self.name!r} "
                f"(choices: {choices})"
            ) from None


SPACES: Registry[type[SearchSpace]] = Registry("search space")


def make_space(config: Mapping[str, Any]) -> SearchSpace:
    """The space described by ``config`` = ``{"name": ..., **options}``."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"space: expected a mapping with a name, got {type(config).__name__}")
    if "name" not in config:
        raise ConfigError("space.name: required key is missing")
    name = config["name"]
    if not isinstance(name, str):
        raise ConfigError(f"space.name: expected a string, got {name!r}")
    cls = SPACES.get(name, where="space.name")
    return cls({k: v for k, v in config.items() if k != "name"})
