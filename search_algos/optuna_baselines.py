"""Baselines through Optuna: ``nsga2`` (NSGAIISampler) and ``tpe`` (multi-objective TPE).

Both run Tune's ``OptunaSearch`` over the experiment's categorical ``arch`` decisions, with
the experiment's objectives as Optuna's directions. A sampler is always passed (DESIGN
section 7). A trial whose last result says ``final: False`` was stopped early by the
scheduler (MO-ASHA): it is told to Optuna as *pruned*, not complete, so that a truncated
accuracy never enters the sampler's population or density model as if it were final; a
trial that raised is told as *failed* (Tune's own ``OptunaSearch`` tells both as complete,
with their last values).

Optuna 5.1's genetic samplers (``NSGAIISampler``, ``NSGAIIISampler``) hold a
``threading.Lock``, which Tune cannot pickle when it builds the Tuner (``TypeError: cannot
pickle '_thread.lock' object``; 4.x and 5.0 hold none). :func:`picklable` gives a sampler class
whose pickle drops its locks and makes new ones on load, so the baselines work with every
Optuna from 4.0 on; Tune users pass ``picklable(NSGAIISampler)(...)`` to ``OptunaSearch``.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from search_algos.registry import register_searcher

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_Sampler = TypeVar("_Sampler", bound=type)


class _PicklableLocks:
    """Mixin: pickling leaves out every lock held in ``__dict__`` and loading makes a fresh one
    of the same kind, unlocked (a lock guards one live process's threads only). The pickle
    names the Optuna class, so it loads wherever this module and Optuna import."""

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        locks = {
            name: isinstance(value, _LOCK_TYPES[1])
            for name, value in state.items()
            if isinstance(value, _LOCK_TYPES)
        }
        for name in locks:
            del state[name]
        return (_restore, (type(self).__mro__[2], state, locks))


def _restore(sampler_class: type, state: dict[str, Any], locks: dict[str, bool]) -> Any:
    sampler = object.__new__(picklable(sampler_class))
    sampler.__dict__.update(state)
    for name, reentrant in locks.items():
        setattr(sampler, name, threading.RLock() if reentrant else threading.Lock())
    return sampler


@functools.cache
def picklable(sampler_class: _Sampler) -> _Sampler:
    """A subclass of the Optuna sampler class ``sampler_class`` that Tune can pickle (its locks
    are left out of the pickle and re-made on load); same constructor and behaviour.

    >>> from optuna.samplers import NSGAIISampler
    >>> sampler = picklable(NSGAIISampler)(population_size=20, seed=0)
    """
    return type(sampler_class.__name__, (_PicklableLocks, sampler_class), {"__module__": __name__})


class NSGA2Options(BaseModel):
    """Keyword arguments of Optuna's ``NSGAIISampler``."""

    model_config = ConfigDict(extra="forbid")
    #: ours: 20, so a 100-evaluation budget sees 5 generations (Optuna's default is 50)
    population_size: int = Field(20, ge=2)
    mutation_prob: float | None = Field(None, gt=0, le=1)
    crossover_prob: float = Field(0.9, ge=0, le=1)


class TPEOptions(BaseModel):
    """Keyword arguments of Optuna's ``TPESampler``."""

    model_config = ConfigDict(extra="forbid")
    #: random trials before TPE models the observations (Optuna's default: 10)
    n_startup_trials: int = Field(10, ge=1)
    multivariate: bool = True


def _optuna_search(experiment: Any, sampler_class: type, options: BaseModel) -> Any:
    """Tune's ``OptunaSearch`` with ``sampler_class(**options, seed=experiment.seed)``: every
    option is a keyword argument of the sampler; early-stopped trials are told as pruned."""
    from ray.tune.search.optuna import OptunaSearch

    class PruningAwareOptunaSearch(OptunaSearch):
        """``OptunaSearch`` telling a trial stopped before its full budget as PRUNED, and a
        failed one as FAIL even when it reported results before failing."""

        def on_trial_complete(
            self, trial_id: str, result: dict | None = None, error: bool = False
        ) -> None:
            if error or (result and result.get("final", True) is False):
                result = None  # OptunaSearch: no values -> FAIL on error, else PRUNED
            super().on_trial_complete(trial_id, result, error)

    return PruningAwareOptunaSearch(
        metric=[o.metric for o in experiment.objectives],
        mode=[o.mode for o in experiment.objectives],
        # seeded itself: OptunaSearch ignores `seed` next to a sampler
        sampler=picklable(sampler_class)(**options.model_dump(), seed=experiment.seed),
    )


@register_searcher("nsga2", NSGA2Options, "Optuna NSGA-II (NSGAIISampler) baseline")
def nsga2(experiment: Any, options: NSGA2Options, run_dir: Any = None) -> Any:
    from optuna.samplers import NSGAIISampler

    return _optuna_search(experiment, NSGAIISampler, options)


@register_searcher("tpe", TPEOptions, "Optuna multi-objective TPE baseline")
def tpe(experiment: Any, options: TPEOptions, run_dir: Any = None) -> Any:
    from optuna.samplers import TPESampler

    return _optuna_search(experiment, TPESampler, options)
