"""DPP-Net (Dong et al., ECCV 2018): device-aware progressive search for Pareto-optimal cells.

:class:`DPPNetSearcher` is the Ray Tune searcher (``searcher.py``); it is composed of pure
steps, each in its own module and usable alone: :mod:`.expansion` (grow kept cells by one
layer), :mod:`.surrogate` (LSTM ensemble predicting accuracy), :mod:`.objectives` (device
objectives of untrained cells), :mod:`.selection` (NSGA-II order on predicted accuracy and
device objectives), :mod:`.history` (each step's record and its TensorBoard view). Importing the package registers the ``dpp`` searcher; the searcher class
itself (which imports Ray) is loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_algos.dpp.expansion import expand, root_cells
from search_algos.dpp.options import DPPNetOptions  # registers "dpp"
from search_algos.dpp.history import StepRecord
from search_algos.dpp.objectives import CellCosts, cost_metric_names, input_shape_of
from search_algos.dpp.selection import candidate_order, select
from search_algos.dpp.surrogate import AccuracySurrogate, SurrogateOptions, kendall_tau

if TYPE_CHECKING:
    from search_algos.dpp.searcher import DPPNetSearcher

__all__ = [
    "AccuracySurrogate",
    "CellCosts",
    "DPPNetOptions",
    "DPPNetSearcher",
    "StepRecord",
    "SurrogateOptions",
    "candidate_order",
    "cost_metric_names",
    "expand",
    "input_shape_of",
    "kendall_tau",
    "root_cells",
    "select",
]


def __getattr__(name: str) -> Any:
    # Ray is imported only when the searcher is asked for, so that validating an experiment
    # (which imports every searcher's options) stays fast.
    if name == "DPPNetSearcher":
        from search_algos.dpp.searcher import DPPNetSearcher

        return DPPNetSearcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
