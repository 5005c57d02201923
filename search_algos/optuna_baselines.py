"""Baselines through Optuna: ``nsga2`` (NSGAIISampler) and ``tpe`` (multi-objective TPE).

Both run Tune's ``OptunaSearch`` over the experiment's categorical ``arch`` decisions, with
the experiment's objectives as Optuna's directions. A sampler is always passed (DESIGN
section 7). Note: Optuna records scheduler-stopped trials as complete with their truncated
metrics; that is the baseline's behaviour, kept as is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from search_algos.registry import register_searcher


class NSGA2Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: ours: 20, so a 100-evaluation budget sees 5 generations (Optuna's default is 50)
    population_size: int = Field(20, ge=2)
    mutation_prob: float | None = Field(None, gt=0, le=1)
    crossover_prob: float = Field(0.9, ge=0, le=1)


class TPEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: random trials before TPE models the observations (Optuna's default: 10)
    n_startup_trials: int = Field(10, ge=1)
    multivariate: bool = True


def _optuna_search(experiment: Any, sampler: Any) -> Any:
    from ray.tune.search.optuna import OptunaSearch

    return OptunaSearch(
        metric=[o.metric for o in experiment.objectives],
        mode=[o.mode for o in experiment.objectives],
        sampler=sampler,  # seeded itself: OptunaSearch ignores `seed` next to a sampler
    )


@register_searcher("nsga2", NSGA2Options, "Optuna NSGA-II (NSGAIISampler) baseline")
def nsga2(experiment: Any, options: NSGA2Options, run_dir: Any = None) -> Any:
    import optuna

    sampler = optuna.samplers.NSGAIISampler(
        population_size=options.population_size,
        mutation_prob=options.mutation_prob,
        crossover_prob=options.crossover_prob,
        seed=experiment.seed,
    )
    return _optuna_search(experiment, sampler)


@register_searcher("tpe", TPEOptions, "Optuna multi-objective TPE baseline")
def tpe(experiment: Any, options: TPEOptions, run_dir: Any = None) -> Any:
    import optuna

    sampler = optuna.samplers.TPESampler(
        n_startup_trials=options.n_startup_trials,
        multivariate=options.multivariate,
        seed=experiment.seed,
    )
    return _optuna_search(experiment, sampler)
