"""DPP-Net (Dong et al., ECCV 2018): device-aware progressive search for Pareto-optimal
architectures, on any categorical search space.

:class:`DPPNetSearcher` (``searcher.py``) is the thin Ray Tune adapter; the strategies it
composes are each in their own module and usable alone: :mod:`.growth` (first step and one
step of growth: ``dpp``, ``monas``, ``nb201``, ``prefix`` rules), :mod:`.steps` (observations
-> the next step's ranked candidates), :mod:`.surrogate` (LSTM ensemble over ``(decision,
choice)`` tokens), :mod:`.costs` (costs of untrained candidates: a callable, device models, a
benchmark table), :mod:`.objectives` (per-layer device costs of ``dpp`` cells),
:mod:`.selection` (NSGA-II order), :mod:`.history` (step records, TensorBoard) and
:mod:`.options` (the registered ``dpp`` searcher). Importing the package registers ``dpp``;
the searcher class (which imports Ray) is loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_algos.dpp.expansion import expand, root_cells
from search_algos.dpp.history import StepRecord
from search_algos.dpp.objectives import CellCosts, cost_metric_names, input_shape_of
from search_algos.dpp.options import DPPNetOptions  # registers "dpp"
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
