"""``random``: uniform sampling of the space with Tune's BasicVariantGenerator (baseline)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from search_algos.registry import register_searcher


@register_searcher("random", summary="uniform random sampling (Tune's BasicVariantGenerator)")
def random_search(experiment: Any, options: BaseModel, run_dir: Any = None) -> Any:
    """Each trial draws every decision uniformly; seeded by the experiment's ``seed``."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(
        max_concurrent=experiment.max_concurrent or 0, random_state=experiment.seed
    )
