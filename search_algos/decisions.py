"""A search space as the searchers see it: an ordered list of categorical decisions.

A decision is a path into the (possibly nested) trial config plus its choices; MONAS's
controller emits one choice index per decision, in order, and DPP-Net's growth rules
(:mod:`search_algos.dpp.growth`) grow architectures over them. Decisions come from a plain Ray Tune
``param_space`` (``tune.choice`` and integer domains; constants pass through untouched, Tune
merges them) or from a dppnas :class:`~dppnas.spaces.SearchSpace`, whose decisions live under
``"arch"`` as in :func:`dppnas.tuning.tuner.param_space`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dppnas.errors import DppnasError
from search_algos.base import SpaceArchKey

#: where a dppnas space's decisions sit in the trial config (DESIGN section 3)
ARCH_KEY = "arch"


@dataclass(frozen=True)
class ControllerDecision:
    """One controller step: the config ``path`` it fills and its ``choices``."""

    path: tuple[str, ...]
    choices: tuple[Any, ...]

    @property
    def name(self) -> str:
        """The flattened key as Tune's ``flatten_dict`` writes it (``arch/layer1_filters``)."""
        return "/".join(self.path)


@dataclass(frozen=True)
class ControllerSpace:
    """The ordered decisions the controller samples, and their decoding into a config.

    ``canonical`` maps a config to a key equal for configs of the same architecture (a dppnas
    space's decisions can be redundant: a depth-1 DPP-Net cell ignores the second layer's
    choices); without it every choice tuple is its own architecture.
    """

    decisions: tuple[ControllerDecision, ...]
    canonical: Callable[[dict[str, Any]], str] | None = field(default=None, compare=False)
    _keys: dict[tuple[int, ...], str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.decisions:
            raise DppnasError(
                "MONAS needs at least one categorical decision (tune.choice / tune.randint) "
                "in the param_space; it has none"
            )

    @property
    def num_choices(self) -> list[int]:
        return [len(d.choices) for d in self.decisions]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def signature(self) -> list[list[Any]]:
        """``[[name, number of choices], ...]``: what a checkpoint must agree with."""
        return [[d.name, len(d.choices)] for d in self.decisions]

    def key(self, actions: Sequence[int]) -> str:
        """The architecture ``actions`` stand for, as a string (equal for equal networks)."""
        if self.canonical is None:
            return ",".join(str(int(a)) for a in actions)
        index = tuple(int(a) for a in actions)
        key = self._keys.get(index)
        if key is None:  # a converged policy draws the same few architectures again and again
            key = self._keys[index] = self.canonical(self.config(index))
        return key

    def config(self, actions: Sequence[int]) -> dict[str, Any]:
        """The nested config holding the chosen value of every decision (and nothing else)."""
        config: dict[str, Any] = {}
        for decision, action in zip(self.decisions, actions, strict=True):
            node = config
            for key in decision.path[:-1]:
                node = node.setdefault(key, {})
            node[decision.path[-1]] = copy.deepcopy(decision.choices[int(action)])
        return config


def space_from_param_space(param_space: Mapping[str, Any]) -> ControllerSpace:
    """Every sampled domain of a Tune ``param_space`` as a decision, in the space's order.

    ``tune.choice(c)`` gives the choices ``c``; ``tune.randint(lo, hi)`` / ``tune.lograndint``
    give ``range(lo, hi)`` (upper bound exclusive, as Tune samples them); ``tune.qrandint(lo, hi,
    q)`` gives the multiples of ``q`` in ``[lo, hi]``. Continuous domains, ``sample_from`` and
    ``grid_search`` raise a :class:`DppnasError` naming the key.
    """
    return ControllerSpace(decisions_of(param_space))


def decisions_of(param_space: Mapping[str, Any]) -> tuple[ControllerDecision, ...]:
    """Every sampled domain of a Tune ``param_space`` as a decision, in the space's order
    (see :func:`space_from_param_space`); empty when it has none."""
    from ray.tune.search.variant_generator import parse_spec_vars

    _, domain_vars, grid_vars = parse_spec_vars(dict(param_space))
    if grid_vars:
        raise DppnasError(
            f"param_space key {_key(grid_vars[0][0])!r} is a grid_search; the searchers need "
            f"categorical domains (use tune.choice([...]) instead)"
        )
    decisions = []
    for path, domain in domain_vars:
        if not all(isinstance(p, str) for p in path):
            raise DppnasError(
                f"param_space key {_key(path)!r} is a domain inside a list; the searchers support "
                f"domains in (nested) dicts only"
            )
        decisions.append(ControllerDecision(tuple(path), _choices(_key(path), domain)))
    return tuple(decisions)


def space_from_search_space(space: Any) -> ControllerSpace:
    """The decisions of a dppnas ``SearchSpace`` (or a space name), under ``"arch"``."""
    from dppnas.spaces import SearchSpace, make_space

    if isinstance(space, str):
        space = make_space({"name": space})
    if not isinstance(space, SearchSpace):
        raise TypeError(f"expected a dppnas SearchSpace or a space name, got {type(space)!r}")
    return ControllerSpace(
        tuple(ControllerDecision((ARCH_KEY, d.name), tuple(d.choices)) for d in space.decisions),
        SpaceArchKey(space),
    )


def resolve_space(space: Any) -> ControllerSpace | None:
    """``space`` as a :class:`ControllerSpace`: None, a Tune param_space, or a dppnas space.

    A param_space that carries a dppnas space's config under ``"space"`` and searches only its
    ``"arch"`` decisions keys architectures by that space's canonical encoding."""
    if space is None or isinstance(space, ControllerSpace):
        return space
    if isinstance(space, Mapping):
        found = space_from_param_space(space)
        named = space.get("space")
        if isinstance(named, Mapping) and all(d.path[0] == ARCH_KEY for d in found.decisions):
            from dppnas.spaces import make_space

            return ControllerSpace(found.decisions, SpaceArchKey(make_space(named)))
        return found
    return space_from_search_space(space)


def check_param_space(space: ControllerSpace, param_space: Mapping[str, Any]) -> None:
    """Raise :class:`DppnasError` when ``param_space`` has a domain ``space`` does not resolve.

    Tune leaves any key its searcher does not return unresolved (DESIGN section 7), so a
    searcher built on one space must not be run on a param_space with other domains.
    """
    ours = {d.path: d for d in space.decisions}
    for decision in decisions_of(param_space):
        mine = ours.get(decision.path)
        if mine is None:
            raise DppnasError(
                f"param_space key {decision.name!r} is not a decision of the searcher's space "
                f"(decisions: {', '.join(space.names)}); build MONASSearcher without `space` "
                f"to search the param_space as it is"
            )
        if list(mine.choices) != list(decision.choices):
            raise DppnasError(
                f"param_space key {decision.name!r} has choices {list(decision.choices)}, the "
                f"searcher's space {list(mine.choices)}; build both from the same space"
            )


def _choices(key: str, domain: Any) -> tuple[Any, ...]:
    from ray.tune.search.sample import Categorical, Float, Integer, Quantized

    sampler = domain.get_sampler()
    if isinstance(domain, Categorical):
        choices = tuple(domain.categories)
    elif isinstance(domain, Integer) and isinstance(sampler, Quantized):
        q = int(sampler.q)
        upper = domain.upper + 1 if q > 1 else domain.upper  # qrandint: inclusive for q > 1
        choices = tuple(v for v in range(domain.lower, upper) if v % q == 0)
    elif isinstance(domain, Integer):
        choices = tuple(range(domain.lower, domain.upper))
    else:
        kind = "a continuous domain" if isinstance(domain, Float) else type(domain).__name__
        raise DppnasError(
            f"param_space key {key!r} is {kind} ({domain.domain_str}); the searcher needs categorical "
            f"domains: tune.choice([...]) or tune.randint(lower, upper)"
        )
    if not choices:
        raise DppnasError(f"param_space key {key!r} has no choices ({domain.domain_str})")
    return choices


def _key(path: Sequence[Any]) -> str:
    return "/".join(str(p) for p in path)
