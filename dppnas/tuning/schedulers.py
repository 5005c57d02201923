"""Trial schedulers by name: ``fifo`` now; MO-ASHA registers itself here (archive issue)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

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
