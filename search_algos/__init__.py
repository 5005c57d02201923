"""The searchers, each registered by name in :data:`SEARCHERS`.

``random``, ``nsga2``, ``tpe`` (baselines), ``monas`` (MONAS, Hsu et al. 2018) and ``dpp``
(DPP-Net, Dong et al. 2018). The two searchers are importable for use in any Tune workflow::

    from search_algos import MONASSearcher, DPPNetSearcher
"""

from typing import Any

from search_algos import dpp, optuna_baselines, random_search  # noqa: F401 - registration
from search_algos.monas import MONASSearcher
from search_algos.registry import SEARCHERS, SearcherSpec, register_searcher

__all__ = ["SEARCHERS", "DPPNetSearcher", "MONASSearcher", "SearcherSpec", "register_searcher"]


def __getattr__(name: str) -> Any:
    if name == "DPPNetSearcher":  # loaded on first use (it imports Ray Tune)
        return dpp.DPPNetSearcher
    raise AttributeError(f"module 'search_algos' has no attribute {name!r}")
