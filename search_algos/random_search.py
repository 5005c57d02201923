"""``random``: random search, drawing the decisions or the architectures uniformly (baseline).

``sampling: decisions`` (the default) is Tune's BasicVariantGenerator: every decision of the
``arch`` domains drawn uniformly and independently. On a space with conditional decisions that
over-weights the architectures that leave decisions unused: DPP-Net's depth-1 cells ignore the
second layer's two decisions, so with ``max_depth`` 2 each of the 18 depth-1 cells is drawn 18x
as often as each of the 324 depth-2 cells (half the draws go to 5 % of the space).
``sampling: architectures`` draws every distinct architecture with equal probability
(:class:`search_algos.uniform.UniformArchitectureSearch`); on a space without unused
decisions (``monas``) the two are the same distribution.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from search_algos.registry import register_searcher


class RandomOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sampling: Literal["decisions", "architectures"] = Field(
        "decisions",
        description="decisions: each decision uniform (Tune's BasicVariantGenerator); "
        "architectures: each distinct architecture equally likely",
    )


@register_searcher(
    "random",
    RandomOptions,
    "random search: decisions (Tune's BasicVariantGenerator) or architectures",
)
def random_search(experiment: Any, options: RandomOptions, run_dir: Any = None) -> Any:
    """Seeded by the experiment's ``seed``; see the module docstring for ``sampling``."""
    if options.sampling == "architectures":
        from search_algos.uniform import UniformArchitectureSearch

        return UniformArchitectureSearch(experiment.search_space, seed=experiment.seed)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(
        max_concurrent=experiment.max_concurrent or 0, random_state=experiment.seed
    )
