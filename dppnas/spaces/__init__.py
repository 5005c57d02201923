"""Search spaces: the :class:`SearchSpace` contract, the registry and the built-in spaces.

* ``monas``: MONAS's AlexNet-like layer-wise CNN;
* ``monas-condensenet``: MONAS's CondenseNet stage depths and growth rates;
* ``dpp``: DPP-Net's cells on a CondenseNet-like dense backbone;
* ``nb201``: NAS-Bench-201's cell space.

An architecture's canonical key (:func:`arch_key`) and every distinct architecture of a
reduced space (:func:`enumerate_architectures`) are in :mod:`dppnas.spaces.enumerate`.
"""

from dppnas.spaces.base import SPACES, Decision, SearchSpace, check_choices, make_space
from dppnas.spaces.dpp import CONDENSENET_CELL, DENSENET_BC_CELL, Cell, DppOptions, DppSpace
from dppnas.spaces.enumerate import arch_key, enumerate_architectures
from dppnas.spaces.monas import (
    CNNGenotype,
    ConvLayerSpec,
    MonasCondenseNetOptions,
    MonasCondenseNetSpace,
    MonasOptions,
    MonasSpace,
    StagesGenotype,
)
from dppnas.spaces.nb201 import NB201Genotype, NB201Options, NB201Space, cell_key

__all__ = [
    "CONDENSENET_CELL",
    "DENSENET_BC_CELL",
    "SPACES",
    "CNNGenotype",
    "Cell",
    "ConvLayerSpec",
    "Decision",
    "DppOptions",
    "DppSpace",
    "MonasCondenseNetOptions",
    "MonasCondenseNetSpace",
    "MonasOptions",
    "MonasSpace",
    "NB201Genotype",
    "NB201Options",
    "NB201Space",
    "SearchSpace",
    "StagesGenotype",
    "arch_key",
    "cell_key",
    "check_choices",
    "enumerate_architectures",
    "make_space",
]
