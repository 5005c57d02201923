"""DPP-Net's cell space (Dong et al., "DPP-Net: Device-aware Progressive Search for
Pareto-optimal Neural Architectures", ECCV 2018).

A cell is a sequence of layers alternating a *norm* (BN + ReLU, BN, identity) and a *conv*
(1x1, 3x3, 1x1 group, 3x3 group, 1x1 learned group (CondenseNet), 3x3 depthwise-separable). Here
a cell's depth counts (norm, conv) pairs, and the progressive searcher adds one pair per step
(the paper grows Norm and Conv layers in turn; adding them as a pair is ours). Every cell of the
CondenseNet-like backbone (:mod:`dppnas.nn.dense`) shares the searched structure (PNAS style).

Decisions: ``depth`` (1..max_depth), then ``norm{i}``, ``conv{i}`` for ``i = 1..max_depth``; only
the first ``depth`` pairs are used. The defaults (proxy scale: 2 cells per stage, growth
8/16/32 as in CondenseNet-86) are ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from torch import nn

from dppnas.errors import DppnasError
from dppnas.nn.dense import DenseNet
from dppnas.nn.ops import NORMS, OPS
from dppnas.spaces.base import SPACES, Decision, SearchSpace, check_choices


@dataclass(frozen=True)
class Cell:
    """A DPP-Net cell: its ``(norm, conv)`` layers, in order."""

    layers: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        layers = tuple(tuple(layer) for layer in self.layers)
        for layer in layers:
            if len(layer) != 2 or not all(isinstance(t, str) for t in layer):
                raise ValueError(f"a cell layer is a (norm, conv) pair of names, got {layer!r}")
        object.__setattr__(self, "layers", layers)

    @property
    def depth(self) -> int:
        """Number of (norm, conv) pairs."""
        return len(self.layers)

    def tokens(self) -> tuple[str, ...]:
        """The layer names in order: ``(norm1, conv1, norm2, conv2, ...)``."""
        return tuple(token for layer in self.layers for token in layer)

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> Cell:
        """The inverse of :meth:`tokens`."""
        if len(tokens) % 2:
            raise ValueError("cell tokens come in (norm, conv) pairs")
        return cls(tuple((tokens[i], tokens[i + 1]) for i in range(0, len(tokens), 2)))

    def extend(self, norm: str, conv: str) -> Cell:
        """This cell with one more ``(norm, conv)`` layer (one progressive-search step)."""
        return Cell((*self.layers, (norm, conv)))

    def __str__(self) -> str:
        return " | ".join(f"{norm}+{conv}" for norm, conv in self.layers)


#: DenseNet-BC's bottleneck layer as a cell (reference point of the DPP-Net paper)
DENSENET_BC_CELL = Cell((("bn_relu", "conv1x1"), ("bn_relu", "conv3x3")))
#: CondenseNet's layer: learned group 1x1 then group 3x3 (Huang et al., 2018)
CONDENSENET_CELL = Cell((("bn_relu", "lgconv1x1"), ("bn_relu", "gconv3x3")))


def _check_names(values: list[str], known: Iterable[str], what: str) -> list[str]:
    check_choices(values)
    known = list(known)
    for value in values:
        if value not in known:
            raise ValueError(f"unknown {what} {value!r}; available: {', '.join(known)}")
    return values


class DppOptions(BaseModel):
    """Options of the ``dpp`` space (defaults ours unless noted)."""

    model_config = ConfigDict(extra="forbid")

    max_depth: PositiveInt = 3
    norms: list[str] = ["bn_relu", "bn", "identity"]
    convs: list[str] = ["conv1x1", "conv3x3", "gconv1x1", "gconv3x3", "lgconv1x1", "dwconv3x3"]
    stem_width: PositiveInt = 16
    cells_per_stage: list[PositiveInt] = [2, 2, 2]
    #: growth rate per stage (CondenseNet-86: 8/16/32)
    growth: list[PositiveInt] = [8, 16, 32]
    #: intermediate convs output ``bottleneck * growth`` channels (DenseNet-BC, CondenseNet: 4)
    bottleneck: PositiveInt = 4
    #: groups of the group / learned group convs (CondenseNet: 4)
    groups: PositiveInt = 4
    #: CondenseNet's condensation factor C (keeps 1/C of the inputs per group; CondenseNet: 4)
    condense_factor: PositiveInt = 4
    #: ours: 2x2 average pooling after the stem, so cells run at half resolution (proxy runs)
    stem_pool: bool = False

    @field_validator("norms")
    @classmethod
    def _known_norms(cls, values: list[str]) -> list[str]:
        return _check_names(values, NORMS.names(), "norm")

    @field_validator("convs")
    @classmethod
    def _known_convs(cls, values: list[str]) -> list[str]:
        return _check_names(values, OPS.names(), "conv")

    @field_validator("cells_per_stage")
    @classmethod
    def _some_stages(cls, values: list[int]) -> list[int]:
        if not values:
            raise ValueError("needs at least one stage")
        return values

    @field_validator("growth")
    @classmethod
    def _one_growth_per_stage(cls, values: list[int], info: ValidationInfo) -> list[int]:
        stages = info.data.get("cells_per_stage")
        if stages is not None and len(values) != len(stages):
            raise ValueError(
                f"needs one growth rate per stage: cells_per_stage has {len(stages)} "
                f"entries, growth has {len(values)}"
            )
        return values

    @model_validator(mode="after")
    def _growth_matches_stages(self) -> DppOptions:
        # the field validator does not run when growth is left at its default
        if len(self.growth) != len(self.cells_per_stage):
            raise ValueError(
                f"growth: needs one growth rate per stage: cells_per_stage has "
                f"{len(self.cells_per_stage)} entries, growth has {len(self.growth)}"
            )
        return self


@SPACES.register("dpp")
class DppSpace(SearchSpace):
    """DPP-Net's cell space on a CondenseNet-like dense backbone."""

    name: ClassVar[str] = "dpp"
    Options: ClassVar[type[BaseModel]] = DppOptions
    genotype_type: ClassVar[type] = Cell
    options: DppOptions

    def _decisions(self) -> Iterator[Decision]:
        o = self.options
        yield Decision("depth", tuple(range(1, o.max_depth + 1)))
        for i in range(1, o.max_depth + 1):
            yield Decision(f"norm{i}", tuple(o.norms))
            yield Decision(f"conv{i}", tuple(o.convs))

    def decode(self, arch: Mapping[str, Any]) -> Cell:
        decisions = {d.name: d for d in self.decisions}
        depth = self._value(arch, decisions["depth"])
        layers = []
        for i in range(1, self.options.max_depth + 1):
            used = i <= depth
            norm = self._value(arch, decisions[f"norm{i}"], required=used)
            conv = self._value(arch, decisions[f"conv{i}"], required=used)
            if used:
                layers.append((norm, conv))
        return Cell(tuple(layers))

    def encode(self, genotype: Cell) -> dict[str, Any]:
        if not isinstance(genotype, Cell):
            raise DppnasError(f"space 'dpp': expected a Cell, got {type(genotype).__name__}")
        o = self.options
        if not 1 <= genotype.depth <= o.max_depth:
            raise DppnasError(
                f"arch.depth: a cell of depth {genotype.depth} is outside space 'dpp' "
                f"(max_depth {o.max_depth})"
            )
        arch: dict[str, Any] = {"depth": genotype.depth}
        for i in range(1, o.max_depth + 1):
            norm, conv = genotype.layers[i - 1] if i <= genotype.depth else (o.norms[0], o.convs[0])
            arch[f"norm{i}"] = norm
            arch[f"conv{i}"] = conv
        self.decode(arch)  # validates the names against the choices
        return arch

    def size(self) -> int:
        per_layer = len(self.options.norms) * len(self.options.convs)
        return sum(per_layer**d for d in range(1, self.options.max_depth + 1))

    def _describe(self, genotype: Cell) -> str:
        return str(genotype)

    def _build(
        self, genotype: Cell, input_shape: tuple[int, int, int], num_classes: int
    ) -> nn.Module:
        o = self.options
        return DenseNet(
            genotype.layers,
            input_shape,
            num_classes,
            stem_width=o.stem_width,
            cells_per_stage=o.cells_per_stage,
            growth=o.growth,
            bottleneck=o.bottleneck,
            groups=o.groups,
            condense_factor=o.condense_factor,
            stem_pool=o.stem_pool,
        )
