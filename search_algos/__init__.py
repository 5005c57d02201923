"""The searchers, each registered by name in :data:`SEARCHERS`.

``random``, ``nsga2`` and ``tpe`` are here; ``monas`` and ``dpp`` register themselves from
their own modules as they land.
"""

from search_algos import dpp, optuna_baselines, random_search  # noqa: F401 - registration
from search_algos.monas import MONASSearcher  # noqa: F401 - registers "monas"; public API
from search_algos.registry import SEARCHERS, SearcherSpec, register_searcher

__all__ = ["SEARCHERS", "SearcherSpec", "register_searcher"]
