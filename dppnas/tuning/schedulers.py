"""Trial schedulers by name: ``fifo`` (run every trial to the end) and ``moasha``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from dppnas.pareto import Objective
from dppnas.registry import Registry


@dataclass(frozen=True)
class SchedulerSpec:
    """How to build a scheduler: its options model and a factory."""

    options: type[BaseModel]
    factory: Callable[[BaseModel, Sequence[Objective], int], Any]  # (options, objectives, epochs)


SCHEDULERS: Registry[SchedulerSpec] = Registry("scheduler")


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fifo(options: BaseModel, objectives: Sequence[Objective], max_t: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


SCHEDULERS.register("fifo")(SchedulerSpec(NoOptions, _fifo))


class MOASHAOptions(BaseModel):
    """``scheduler: {name: moasha, ...}``: multi-objective ASHA (Schmucker et al. 2021).

    Budgets are in ``time_attr`` units (``training_iteration`` = epochs done).
    """

    model_config = ConfigDict(extra="forbid")
    grace_period: PositiveInt = Field(1, description="first rung; no trial stops before it")
    reduction_factor: float = Field(3.0, gt=1, description="eta: keep the top 1/eta at a rung")
    selection: Literal["nsga2", "epsnet"] = Field(
        "nsga2", description="rank within a rung: crowding distance or epsilon-net"
    )
    max_t: PositiveInt | None = Field(None, description="full budget; default train.epochs")
    time_attr: Literal["training_iteration", "time_total_s"] = Field(
        "training_iteration",
        description="budget counter every trial reports: epochs done, or seconds trained",
    )


def _moasha(options: BaseModel, objectives: Sequence[Objective], max_t: int) -> Any:
    from dppnas.tuning.moasha import MOASHA

    assert isinstance(options, MOASHAOptions)
    return MOASHA(
        metric=[o.metric for o in objectives],
        mode=[o.mode for o in objectives],
        time_attr=options.time_attr,
        max_t=options.max_t or max_t,
        grace_period=options.grace_period,
        reduction_factor=options.reduction_factor,
        selection=options.selection,
    )


SCHEDULERS.register("moasha")(SchedulerSpec(MOASHAOptions, _moasha))
