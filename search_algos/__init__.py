"""The searchers, each registered by name in :data:`SEARCHERS`.

``random`` is here now; ``monas``, ``dpp``, ``nsga2`` and ``tpe`` register themselves from
their own modules as they land.
"""

from search_algos import random_search  # noqa: F401 - registers "random"
from search_algos.registry import SEARCHERS, SearcherSpec, register_searcher

__all__ = ["SEARCHERS", "SearcherSpec", "register_searcher"]
