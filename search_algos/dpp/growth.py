"""Growth rules: which architectures make DPP-Net's first step, and how one grows by a step.

DPP-Net (Dong et al., ECCV 2018, Sec. 3.3), after PNAS (Liu et al., ECCV 2018), trains the
simplest architectures first and grows the best ones by one step at a time. What "simple" and
"one step" mean depends on the space, so a :class:`GrowthRule` says it:

* ``dpp`` (:class:`DppGrowth`): a cell of one ``(norm, conv)`` pair, grown by one more pair
  (the paper grows Norm and Conv layers in turn; a pair per step is ours, as in
  :mod:`dppnas.spaces.dpp`);
* ``monas`` (:func:`monas_growth`): the first layer of MONAS's CNN searched with the others held
  at their base (first) choices, then one more layer per step;
* ``nb201`` (:class:`Nb201Growth`): NAS-Bench-201 cells with exactly one edge that is not
  ``none``, then one more ``none`` edge turned into an operation per step;
* ``prefix`` (:class:`PrefixGrowth`, the default for any categorical Tune ``param_space``):
  the decisions in an order (default: the space's), step ``d`` choosing decision ``d`` (or the
  ``d``-th group of decisions) with every decision not grown yet held at a base value (default:
  its first choice). Choose as base the cheapest or "empty" choice (no layer, ``none``, the
  fewest filters), so that early steps are small architectures, as in PNAS.

An architecture is a hashable value of the rule's own (a :class:`~dppnas.spaces.Cell`, a tuple
of choice indices or of NB201 operations); the rule turns it into the suggested config
(:meth:`GrowthRule.config`) and into ``(decision, choice)`` tokens for the accuracy surrogate
(:meth:`GrowthRule.tokens`). Rules are pure: nothing here trains or costs anything.
"""

from __future__ import annotations

import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from dppnas.errors import DppnasError
from dppnas.spaces import Cell, DppSpace
from search_algos.decisions import ARCH_KEY, ControllerDecision, ControllerSpace
from search_algos.dpp.expansion import expand, root_cells

#: one surrogate token: a decision (or slot) and its choice
Token = tuple[str, Hashable]

#: NAS-Bench-201's cell edges (``edge_<to>_<from>``) and operations, as the ``nb201`` space names them
NB201_EDGES = ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class GrowthRule(ABC):
    """The first step's architectures and how an architecture grows by one step."""

    #: the rule's name (``growth=`` of the searcher)
    name: str = ""
    #: the last step
    max_depth: int = 1

    @abstractmethod
    def roots(self) -> list[Hashable]:
        """The candidates of step 1, in a fixed order."""

    @abstractmethod
    def children(self, arch: Hashable, depth: int) -> list[Hashable]:
        """The candidates of step ``depth`` grown from ``arch`` (kept at step ``depth - 1``)."""

    @abstractmethod
    def tokens(self, arch: Hashable) -> tuple[Token, ...]:
        """``arch`` as ``(decision, choice)`` tokens, the surrogate's input."""

    @abstractmethod
    def vocabulary(self) -> list[Token]:
        """Every token :meth:`tokens` can produce, in a fixed order (the surrogate's ids)."""

    @abstractmethod
    def config(self, arch: Hashable) -> dict[str, Any]:
        """The suggestion for ``arch``: the searched decisions, as the trainable receives them."""

    @property
    @abstractmethod
    def decision_names(self) -> list[str]:
        """The param_space keys the rule decides (flattened with ``/``)."""

    def describe(self, arch: Hashable) -> str:
        """A one-line summary of ``arch`` (TensorBoard tables, logs)."""
        return " ".join(f"{d}={c}" for d, c in self.tokens(arch))

    def expand(self, parents: Iterable[Hashable], depth: int) -> list[Hashable]:
        """The children of every parent at step ``depth``, once each, in parent order."""
        seen: set[Hashable] = set()
        out = []
        for parent in parents:
            for child in self.children(parent, depth):
                if child not in seen:
                    seen.add(child)
                    out.append(child)
        return out


class DppGrowth(GrowthRule):
    """``dpp``: cells of one ``(norm, conv)`` pair, then one more pair per step.

    Candidates in the order of :func:`search_algos.dpp.expansion.expand` (parents, then norms,
    then convs); tokens ``("norm", name)`` / ``("conv", name)`` per layer, norms before convs in
    the vocabulary (the surrogate reads a layer's op whatever its position).
    """

    name = "dpp"

    def __init__(self, space: DppSpace, max_depth: int | None = None) -> None:
        o = space.options
        depth = o.max_depth if max_depth is None else int(max_depth)
        if not 1 <= depth <= o.max_depth:
            raise DppnasError(f"max_depth {depth} is outside the dpp space's 1..{o.max_depth}")
        self.space, self.max_depth = space, depth
        self.norms, self.convs = list(o.norms), list(o.convs)

    def roots(self) -> list[Cell]:
        return root_cells(self.norms, self.convs)

    def children(self, arch: Cell, depth: int) -> list[Cell]:
        return expand([arch], self.norms, self.convs)

    def tokens(self, arch: Cell) -> tuple[Token, ...]:
        return tuple(token for n, c in arch.layers for token in (("norm", n), ("conv", c)))

    def vocabulary(self) -> list[Token]:
        return [("norm", n) for n in self.norms] + [("conv", c) for c in self.convs]

    def config(self, arch: Cell) -> dict[str, Any]:
        return {ARCH_KEY: self.space.encode(arch)}

    @property
    def decision_names(self) -> list[str]:
        return [f"{ARCH_KEY}/{d.name}" for d in self.space.decisions]

    def describe(self, arch: Cell) -> str:
        return str(arch)


class _ChoiceIndexRule(GrowthRule):
    """A rule over param_space decisions whose architectures are tuples of choice indices."""

    def __init__(self, decisions: Sequence[ControllerDecision]) -> None:
        self.decisions = tuple(decisions)
        self._space = ControllerSpace(self.decisions)
        self._index = {d.name: i for i, d in enumerate(self.decisions)}

    def tokens(self, arch: tuple[int, ...]) -> tuple[Token, ...]:
        return tuple((d.name, i) for d, i in zip(self.decisions, arch, strict=True))

    def vocabulary(self) -> list[Token]:
        return [(d.name, i) for d in self.decisions for i in range(len(d.choices))]

    def config(self, arch: tuple[int, ...]) -> dict[str, Any]:
        return self._space.config(arch)

    @property
    def decision_names(self) -> list[str]:
        return [d.name for d in self.decisions]

    def describe(self, arch: tuple[int, ...]) -> str:
        return " ".join(
            f"{d.name}={d.choices[i]!r}" for d, i in zip(self.decisions, arch, strict=True)
        )

    def _find(self, name: str) -> int:
        """The index of decision ``name``: its full key (``arch/x``) or an unambiguous leaf."""
        if name in self._index:
            return self._index[name]
        leaves = [i for i, d in enumerate(self.decisions) if d.path[-1] == name]
        if len(leaves) == 1:
            return leaves[0]
        raise DppnasError(
            f"{name!r} is not a decision of the param_space (decisions: {', '.join(self._index)})"
        )


class PrefixGrowth(_ChoiceIndexRule):
    """``prefix``: decisions grown in ``order``, the rest held at ``base`` (see the module).

    Args:
        decisions: the param_space's decisions (:func:`search_algos.decisions.decisions_of`).
        order: decision names (flattened keys such as ``arch/x``, or an unambiguous leaf
            name), or groups of names grown together in one step; default every decision
            alone, in the space's order. Decisions left out keep their base value.
        base: ``{decision: choice}`` held until a decision is grown; default its first choice.

    Tokens are ``(decision, choice index)`` for every decision, grown or held; step ``d``
    varies group ``d`` over the product of its decisions' choices. A child equal to its
    parent (the base choice again) is left to the searcher's de-duplication.
    """

    name = "prefix"

    def __init__(
        self,
        decisions: Sequence[ControllerDecision],
        order: Sequence[str | Sequence[str]] | None = None,
        base: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(decisions)
        if order is None:
            order = [d.name for d in self.decisions]
        groups: list[tuple[int, ...]] = []
        placed: set[int] = set()
        for entry in order:
            names = [entry] if isinstance(entry, str) else list(entry)
            group = tuple(self._find(n) for n in names)
            if not group or placed & set(group) or len(set(group)) < len(group):
                raise DppnasError(f"order names {entry!r} twice or not at all: {list(order)}")
            placed |= set(group)
            groups.append(group)
        if not groups:
            raise DppnasError("order must name at least one decision")
        self.groups = groups
        self.max_depth = len(groups)
        base_index = [0] * len(self.decisions)
        for name, value in (base or {}).items():
            i = self._find(name)
            choices = self.decisions[i].choices
            matches = [j for j, c in enumerate(choices) if c == value and type(c) is type(value)]
            if not matches:
                raise DppnasError(
                    f"base value {value!r} of {self.decisions[i].name!r} is not one of its "
                    f"choices {list(choices)}"
                )
            base_index[i] = matches[0]
        self.base = tuple(base_index)

    def roots(self) -> list[tuple[int, ...]]:
        return self.children(self.base, 1)

    def children(self, arch: tuple[int, ...], depth: int) -> list[tuple[int, ...]]:
        group = self.groups[depth - 1]
        out = []
        for combo in itertools.product(*(range(len(self.decisions[i].choices)) for i in group)):
            child = list(arch)
            for i, choice in zip(group, combo, strict=True):
                child[i] = choice
            out.append(tuple(child))
        return out


def monas_growth(decisions: Sequence[ControllerDecision]) -> PrefixGrowth:
    """``monas``: MONAS's CNN one layer per step (``layer<i>_*`` decisions grown together),
    the layers not grown yet held at their first choices (the smallest kernels and filter
    counts of the default options)."""
    layers: dict[int, list[str]] = {}
    for d in decisions:
        match = re.fullmatch(r"layer(\d+)_.+", d.path[-1])
        if match is None:
            raise DppnasError(
                f"growth 'monas' grows the monas space's layer<i>_* decisions; "
                f"{d.name!r} is not one (use growth='prefix')"
            )
        layers.setdefault(int(match.group(1)), []).append(d.name)
    rule = PrefixGrowth(decisions, order=[layers[i] for i in sorted(layers)])
    rule.name = "monas"
    return rule


class Nb201Growth(_ChoiceIndexRule):
    """``nb201``: cells with exactly one edge that is not ``none``, then one more ``none``
    edge turned into an operation per step (6 steps at most: every edge set).

    Works on the six ``edge_<to>_<from>`` decisions wherever they sit in the param_space
    (under ``arch`` for the dppnas space, or top level); each must offer ``none``.
    """

    name = "nb201"

    def __init__(self, decisions: Sequence[ControllerDecision], max_depth: int | None = None):
        by_leaf = {d.path[-1]: d for d in decisions}
        if sorted(by_leaf) != sorted(NB201_EDGES) or len(decisions) != len(NB201_EDGES):
            raise DppnasError(
                f"growth 'nb201' needs exactly the decisions {', '.join(NB201_EDGES)}; the "
                f"param_space has {', '.join(d.name for d in decisions)} (use growth='prefix')"
            )
        super().__init__([by_leaf[e] for e in NB201_EDGES])
        self._none = []
        for d in self.decisions:
            if "none" not in d.choices:
                raise DppnasError(f"growth 'nb201': {d.name!r} has no 'none' choice")
            self._none.append(d.choices.index("none"))
        depth = len(NB201_EDGES) if max_depth is None else int(max_depth)
        if not 1 <= depth <= len(NB201_EDGES):
            raise DppnasError(f"max_depth {depth} is outside nb201's 1..{len(NB201_EDGES)}")
        self.max_depth = depth
        self.empty = tuple(self._none)

    def roots(self) -> list[tuple[int, ...]]:
        return self.children(self.empty, 1)

    def children(self, arch: tuple[int, ...], depth: int) -> list[tuple[int, ...]]:
        out = []
        for edge, choice in enumerate(arch):
            if choice != self._none[edge]:
                continue
            for op in range(len(self.decisions[edge].choices)):
                if op != self._none[edge]:
                    out.append((*arch[:edge], op, *arch[edge + 1 :]))
        return out


RULES = ("dpp", "monas", "nb201", "prefix")


def check_decisions(rule: GrowthRule, decisions: Sequence[ControllerDecision]) -> None:
    """Raise a :class:`DppnasError` unless ``decisions`` (a param_space's search domains) are
    exactly the rule's: Tune leaves a domain the searcher does not return unresolved."""
    names = [d.name for d in decisions]
    if sorted(names) != sorted(rule.decision_names):
        raise DppnasError(
            f"the param_space's search domains {', '.join(names) or 'none'} are not the "
            f"decisions of the searcher's growth rule {rule.name!r} "
            f"({', '.join(rule.decision_names)}): build both from the same space, and make "
            f"everything else a constant"
        )


def make_growth(
    growth: str | GrowthRule | None,
    decisions: Sequence[ControllerDecision],
    space: Any = None,
    *,
    order: Sequence[str | Sequence[str]] | None = None,
    base: Mapping[str, Any] | None = None,
    max_depth: int | None = None,
) -> GrowthRule:
    """The rule ``growth`` names (or is) over ``decisions``, the param_space's decisions.

    None picks the dppnas ``space``'s own rule (``dpp``, ``monas``, ``nb201``) when the
    param_space is that space's, else ``prefix``. ``order`` and ``base`` apply to ``prefix``;
    ``max_depth`` stops the growth early (default: every step the rule has).
    """
    if not decisions and not isinstance(growth, GrowthRule):
        raise DppnasError(
            "DPP-Net needs search domains (tune.choice, ...) in the param_space; it has none"
        )
    if isinstance(growth, GrowthRule):
        rule = growth
    else:
        space_name = getattr(space, "name", None)
        if growth is None:
            growth = space_name if space_name in ("dpp", "monas", "nb201") else "prefix"
            if growth != "prefix" and (order is not None or base is not None):
                growth = "prefix"  # order / base given: the user's own prefix growth
        if growth not in RULES:
            raise DppnasError(f"unknown growth {growth!r}; use one of {', '.join(RULES)}")
        if growth != "prefix" and (order is not None or base is not None):
            raise DppnasError(f"order and base apply to growth='prefix', not {growth!r}")
        if growth == "dpp":
            if not isinstance(space, DppSpace):
                raise DppnasError(
                    "growth 'dpp' grows cells of the dpp space: pass space=... or put the "
                    'space\'s config under "space" in the param_space'
                )
            return DppGrowth(space, max_depth)
        if growth == "nb201":
            return Nb201Growth(decisions, max_depth)
        rule = (
            monas_growth(decisions) if growth == "monas" else PrefixGrowth(decisions, order, base)
        )
    if max_depth is not None:
        if not 1 <= max_depth <= rule.max_depth:
            raise DppnasError(
                f"max_depth {max_depth} is outside growth {rule.name!r}'s 1..{rule.max_depth}"
            )
        rule.max_depth = int(max_depth)
    return rule
