"""MONAS's two target spaces (Hsu et al., "MONAS: Multi-Objective Neural Architecture Search
using Reinforcement Learning", 2018, arXiv 1806.10332).

* ``monas``: an AlexNet-like CNN searched layer by layer (after Zoph & Le, 2017): per layer a
  filter height and width in {1, 3, 5, 7} and a filter count in {24, 36, 48, 64}.
* ``monas-condensenet``: the depth (cells) and growth rate of each stage of a CondenseNet with
  its cell fixed to [(BN+ReLU, learned group 1x1), (BN+ReLU, group 3x3)].

The choice sets follow the papers; the number of layers / stages, the pooling layout and the
CondenseNet widths are our defaults.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt, field_validator
from torch import nn

from dppnas.errors import DppnasError
from dppnas.nn.alexnet import LayerwiseCNN
from dppnas.nn.dense import DenseNet
from dppnas.spaces.base import SPACES, Decision, SearchSpace, check_choices
from dppnas.spaces.dpp import CONDENSENET_CELL

# --- monas: layer-wise AlexNet-like CNN --------------------------------------------------------


@dataclass(frozen=True)
class ConvLayerSpec:
    """One conv layer of the MONAS CNN."""

    filter_height: int
    filter_width: int
    filters: int


@dataclass(frozen=True)
class CNNGenotype:
    """A MONAS CNN: its conv layers in order."""

    layers: tuple[ConvLayerSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))


class MonasOptions(BaseModel):
    """Options of the ``monas`` space."""

    model_config = ConfigDict(extra="forbid")

    #: conv layers (ours)
    num_layers: PositiveInt = 4
    #: filter heights (Zoph & Le / MONAS)
    filter_heights: list[PositiveInt] = [1, 3, 5, 7]
    #: filter widths (Zoph & Le / MONAS)
    filter_widths: list[PositiveInt] = [1, 3, 5, 7]
    #: filter counts (Zoph & Le / MONAS)
    filters: list[PositiveInt] = [24, 36, 48, 64]
    #: a 2x2 max-pool (stride 2) after every ``pool_every``-th conv layer; 0: never (ours)
    pool_every: NonNegativeInt = 2

    @field_validator("filter_heights", "filter_widths")
    @classmethod
    def _odd_kernels(cls, values: list[int]) -> list[int]:
        check_choices(values)
        for value in values:
            if value % 2 == 0:
                raise ValueError(f"kernel sizes must be odd for 'same' padding, got {value}")
        return values

    @field_validator("filters")
    @classmethod
    def _filter_choices(cls, values: list[int]) -> list[int]:
        return list(check_choices(values))


@SPACES.register("monas")
class MonasSpace(SearchSpace):
    """MONAS's AlexNet-like target: ``num_layers`` x (filter height, filter width, filters)."""

    name: ClassVar[str] = "monas"
    Options: ClassVar[type[BaseModel]] = MonasOptions
    genotype_type: ClassVar[type] = CNNGenotype
    options: MonasOptions

    def _decisions(self) -> Iterator[Decision]:
        o = self.options
        for i in range(1, o.num_layers + 1):
            yield Decision(f"layer{i}_filter_height", tuple(o.filter_heights))
            yield Decision(f"layer{i}_filter_width", tuple(o.filter_widths))
            yield Decision(f"layer{i}_filters", tuple(o.filters))

    def decode(self, arch: Mapping[str, Any]) -> CNNGenotype:
        values = {d.name: self._value(arch, d) for d in self.decisions}
        return CNNGenotype(
            tuple(
                ConvLayerSpec(
                    values[f"layer{i}_filter_height"],
                    values[f"layer{i}_filter_width"],
                    values[f"layer{i}_filters"],
                )
                for i in range(1, self.options.num_layers + 1)
            )
        )

    def encode(self, genotype: CNNGenotype) -> dict[str, Any]:
        if not isinstance(genotype, CNNGenotype):
            raise DppnasError(
                f"space 'monas': expected a CNNGenotype, got {type(genotype).__name__}"
            )
        if len(genotype.layers) != self.options.num_layers:
            raise DppnasError(
                f"space 'monas': expected {self.options.num_layers} layers, "
                f"got {len(genotype.layers)}"
            )
        arch: dict[str, Any] = {}
        for i, layer in enumerate(genotype.layers, start=1):
            arch[f"layer{i}_filter_height"] = layer.filter_height
            arch[f"layer{i}_filter_width"] = layer.filter_width
            arch[f"layer{i}_filters"] = layer.filters
        return {d.name: self._value(arch, d) for d in self.decisions}

    def size(self) -> int:
        o = self.options
        per_layer = len(o.filter_heights) * len(o.filter_widths) * len(o.filters)
        return per_layer**o.num_layers

    def _describe(self, genotype: CNNGenotype) -> str:
        return " ".join(
            f"{layer.filter_height}x{layer.filter_width}/{layer.filters}"
            for layer in genotype.layers
        )

    def _build(
        self, genotype: CNNGenotype, input_shape: tuple[int, int, int], num_classes: int
    ) -> nn.Module:
        layers = [
            (layer.filter_height, layer.filter_width, layer.filters) for layer in genotype.layers
        ]
        return LayerwiseCNN(layers, input_shape, num_classes, pool_every=self.options.pool_every)


# --- monas-condensenet: stage depths and growth rates ------------------------------------------


@dataclass(frozen=True)
class StagesGenotype:
    """A CondenseNet's cells per stage (``depths``) and growth rate per stage (``growths``)."""

    depths: tuple[int, ...]
    growths: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(self.depths))
        object.__setattr__(self, "growths", tuple(self.growths))
        if len(self.depths) != len(self.growths):
            raise ValueError("depths and growths need one entry per stage")


class MonasCondenseNetOptions(BaseModel):
    """Options of the ``monas-condensenet`` space (defaults ours; CondenseNet's where noted)."""

    model_config = ConfigDict(extra="forbid")

    stages: PositiveInt = 3
    #: choices of cells per stage (every stage)
    depths: list[PositiveInt] = [2, 4, 6]
    #: choices of growth rate (every stage)
    growths: list[PositiveInt] = [4, 8, 16]
    stem_width: PositiveInt = 16
    #: bottleneck width factor of the learned group 1x1 (CondenseNet: 4)
    bottleneck: PositiveInt = 4
    #: groups of the learned group 1x1 and the group 3x3 (CondenseNet: 4)
    groups: PositiveInt = 4
    #: condensation factor (CondenseNet: 4)
    condense_factor: PositiveInt = 4

    @field_validator("depths", "growths")
    @classmethod
    def _choices(cls, values: list[int]) -> list[int]:
        return list(check_choices(values))


@SPACES.register("monas-condensenet")
class MonasCondenseNetSpace(SearchSpace):
    """MONAS's CondenseNet target: ``stage{i}_depth`` and ``stage{i}_growth`` per stage."""

    name: ClassVar[str] = "monas-condensenet"
    Options: ClassVar[type[BaseModel]] = MonasCondenseNetOptions
    genotype_type: ClassVar[type] = StagesGenotype
    options: MonasCondenseNetOptions

    def _decisions(self) -> Iterator[Decision]:
        o = self.options
        for i in range(1, o.stages + 1):
            yield Decision(f"stage{i}_depth", tuple(o.depths))
            yield Decision(f"stage{i}_growth", tuple(o.growths))

    def decode(self, arch: Mapping[str, Any]) -> StagesGenotype:
        values = {d.name: self._value(arch, d) for d in self.decisions}
        stages = range(1, self.options.stages + 1)
        return StagesGenotype(
            tuple(values[f"stage{i}_depth"] for i in stages),
            tuple(values[f"stage{i}_growth"] for i in stages),
        )

    def encode(self, genotype: StagesGenotype) -> dict[str, Any]:
        if not isinstance(genotype, StagesGenotype):
            raise DppnasError(
                f"space 'monas-condensenet': expected a StagesGenotype, got "
                f"{type(genotype).__name__}"
            )
        if len(genotype.depths) != self.options.stages:
            raise DppnasError(
                f"space 'monas-condensenet': expected {self.options.stages} stages, "
                f"got {len(genotype.depths)}"
            )
        arch: dict[str, Any] = {}
        for i, (depth, growth) in enumerate(
            zip(genotype.depths, genotype.growths, strict=True), start=1
        ):
            arch[f"stage{i}_depth"] = depth
            arch[f"stage{i}_growth"] = growth
        return {d.name: self._value(arch, d) for d in self.decisions}

    def size(self) -> int:
        o = self.options
        return (len(o.depths) * len(o.growths)) ** o.stages

    def _describe(self, genotype: StagesGenotype) -> str:
        depths = "/".join(str(d) for d in genotype.depths)
        growths = "/".join(str(g) for g in genotype.growths)
        return f"cells {depths} growth {growths}"

    def _build(
        self, genotype: StagesGenotype, input_shape: tuple[int, int, int], num_classes: int
    ) -> nn.Module:
        o = self.options
        return DenseNet(
            CONDENSENET_CELL.layers,
            input_shape,
            num_classes,
            stem_width=o.stem_width,
            cells_per_stage=genotype.depths,
            growth=genotype.growths,
            bottleneck=o.bottleneck,
            groups=o.groups,
            condense_factor=o.condense_factor,
        )
