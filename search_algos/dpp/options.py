"""The ``dpp`` searcher of an experiment: options and the factory registered by name."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from search_algos.dpp.surrogate import SurrogateOptions
from search_algos.registry import register_searcher

logger = logging.getLogger(__name__)


class DPPNetOptions(BaseModel):
    """``searcher: {name: dpp, ...}`` options (defaults ours; the paper's were not available)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(8, ge=1, description="candidates trained per step after the first")
    k0: int | None = Field(
        None, ge=1, description="depth-1 cells trained first (None = all of them)"
    )
    max_depth: int | None = Field(None, ge=1, description="last step; default the rule's")
    growth: Literal["dpp", "monas", "nb201", "prefix"] | None = Field(
        None, description="growth rule; default the space's own (dpp, monas, nb201) or prefix"
    )
    order: list[str | list[str]] | None = Field(
        None, description="prefix: decisions (or groups of them) in growth order"
    )
    base: dict[str, Any] | None = Field(
        None, description="prefix: the choice each decision holds until grown (first choice)"
    )
    selection: Literal["pareto", "accuracy"] = Field(
        "pareto", description="pareto = DPP-Net, accuracy = DPP-Net-PNAS"
    )
    parents: Literal["front", "step"] = Field(
        "front",
        description="the trained architectures each step grows: front = the k best so far, "
        "ranked on measured accuracy and costs (ours); step = the previous step's (PNAS)",
    )
    grow_through_repeats: bool = Field(
        True,
        description="a child that is another encoding of a network already suggested grows on "
        "in its place, and the beam widens to every trained architecture when the survivors "
        "have fewer than k new children (false: the paper's form, such children dropped)",
    )
    cost_method: Literal["layers", "network"] = Field(
        "layers", description="candidates' latency / energy: per-layer cache or whole nets"
    )
    surrogate: SurrogateOptions = SurrogateOptions()


@register_searcher(
    "dpp",
    DPPNetOptions,
    "DPP-Net: progressive cell search, LSTM surrogate, Pareto selection on device objectives",
)
def dpp(experiment: Any, options: DPPNetOptions, run_dir: Path | None = None) -> Any:
    """A :class:`~search_algos.dpp.DPPNetSearcher` for ``experiment``'s space, objectives and
    devices (costs of untrained candidates from the device models).

    The dataset's input shape and class count come from
    :func:`~search_algos.dpp.objectives.input_shape_of` (no loading for built-in datasets);
    TensorBoard logs go to ``run_dir / "dpp"``.
    """
    from dppnas.devices import make_devices
    from dppnas.errors import ConfigError, DppnasError
    from search_algos.dpp.objectives import input_shape_of
    from search_algos.dpp.searcher import DPPNetSearcher

    input_shape, num_classes = input_shape_of(experiment.dataset)
    try:
        searcher = DPPNetSearcher(
            metric=[o.metric for o in experiment.objectives],
            mode=[o.mode for o in experiment.objectives],
            space=experiment.search_space,
            growth=options.growth,
            order=options.order,
            base=options.base,
            k=options.k,
            k0=options.k0,
            max_depth=options.max_depth,
            selection=options.selection,
            parents=options.parents,
            grow_through_repeats=options.grow_through_repeats,
            devices=make_devices(experiment.devices),
            input_shape=input_shape,
            num_classes=num_classes,
            cost_method=options.cost_method,
            surrogate=options.surrogate,
            seed=experiment.seed,
            log_dir=None if run_dir is None else Path(run_dir) / "dpp",
        )
    except ConfigError:
        raise
    except DppnasError as err:
        raise ConfigError(f"searcher: {err}") from None
    planned = searcher.planned_trials()
    if experiment.num_samples < planned:
        logger.warning(
            "num_samples %d is less than the %d trials DPP-Net plans (k0, then k per step up "
            "to depth %d): the last steps will be cut short",
            experiment.num_samples,
            planned,
            searcher.max_depth,
        )
    return searcher
