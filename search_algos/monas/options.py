"""``searcher: {name: monas, ...}``: the options an experiment may set, and the factory; the
paper-like settings :data:`PAPER_LIKE`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from search_algos.registry import register_searcher

#: paper-like settings, ``MONASSearcher(..., **PAPER_LIKE)``: Adam with learning rate 0.0006
#: (Zoph & Le 2017) on plain REINFORCE: no entropy bonus, advantage normalisation, temperature
#: or logit clipping (our reading of the papers). The baseline decay, hidden size and batch size
#: are ours: the papers' values were not available to us.
PAPER_LIKE: dict[str, Any] = {
    "lr": 6e-4,
    "entropy_weight": 0.0,
    "normalize_advantage": False,
    "temperature": None,
    "tanh_constant": None,
    "baseline_decay": 0.95,
    "hidden_size": 64,
    "batch_size": 8,
}


class MONASOptions(BaseModel):
    """Options of the ``monas`` searcher; see :class:`MONASSearcher` (defaults are ours)."""

    model_config = ConfigDict(extra="forbid")
    reward: Literal["mixed", "constrained", "pareto"] = Field(
        "mixed", description="MONAS's mixed / constrained reward, or ours: pareto"
    )
    pareto_scale: Literal["reference", "observed"] = Field(
        "reference",
        description="pareto: objectives scaled by |ref| (reference) or by the range from the "
        "best value seen to ref (observed; ours)",
    )
    alpha: float = Field(0.5, ge=0, le=1, description="mixed: accuracy weight")
    budgets: dict[str, float] = Field(
        default_factory=dict,
        description="constrained: budget per metric (default: each cost objective's ref)",
    )
    penalty: float = Field(1.0, ge=0, description="constrained: penalty per relative violation")
    batch_size: PositiveInt = Field(8, description="children per controller update")
    hidden_size: PositiveInt = Field(64, description="LSTM hidden units")
    lr: PositiveFloat = Field(0.01, description="Adam learning rate (Zoph & Le: 0.0006)")
    entropy_weight: float = Field(0.01, ge=0, description="entropy bonus (nats, summed)")
    baseline_decay: float = Field(0.8, ge=0, lt=1, description="EMA decay of the baseline")
    normalize_advantage: bool = Field(
        True, description="divide R - b by its moving root mean square"
    )
    temperature: PositiveFloat | None = Field(None, description="logits divided by it")
    tanh_constant: PositiveFloat | None = Field(None, description="logits -> c * tanh(logits)")
    learn_from_low_fidelity: bool = Field(
        False, description="learn from scheduler-stopped trials' last (truncated) metrics"
    )
    error_penalty: float | None = Field(
        None, description="reward of an errored trial (default: the lowest reward seen)"
    )
    max_trials: PositiveInt | None = Field(None, description="FINISHED after this many")
    unique: bool = Field(True, description="no architecture twice while new ones are drawn")
    resamples: PositiveInt = Field(64, description="unique: samples drawn to replace a repeat")


@register_searcher("monas", MONASOptions, "MONAS: LSTM controller + REINFORCE (Hsu et al. 2018)")
def monas(experiment: Any, options: MONASOptions, run_dir: Path | None = None) -> Any:
    """A :class:`MONASSearcher` over the experiment's space (``arch`` decisions), objectives
    and reference point, seeded by the experiment; TensorBoard logs in ``RUN/monas``."""
    from dppnas.errors import ConfigError, DppnasError
    from search_algos.monas.searcher import MONASSearcher

    try:
        return MONASSearcher(
            metric=[o.metric for o in experiment.objectives],
            mode=[o.mode for o in experiment.objectives],
            space=experiment.search_space,
            ref=[o.ref for o in experiment.objectives],
            seed=experiment.seed,
            log_dir=None if run_dir is None else Path(run_dir) / "monas",
            **options.model_dump(),
        )
    except ConfigError:
        raise
    except DppnasError as err:  # e.g. budgets naming a metric that is not an objective
        raise ConfigError(f"searcher: {err}") from None
