"""DPP-Net's costs of untrained candidates in ``dppnas bench compare`` (DESIGN section 6b).

DPP-Net ranks each step's candidates on their costs before training any. A real search does
not know a candidate's latency on the target device before building and measuring it, so by
default (``-s dpp.costs=fewshot``) the benchmark gives DPP-Net what a real search would have:

* ``latency/<device>``: the few-shot model (:mod:`dppnas.devices.fewshot`) fitted on
  :data:`FEWSHOT_SAMPLES` architectures drawn at random per seed and measured on the target
  (their latencies read from the table), with reference latencies only from HELP's
  meta-train and meta-valid devices, never the target (:mod:`dppnas.profiling.transfer`), plus
  FLOPs, params and op counts. Tables with one device (the fashion tables' ``local-cpu``) have
  no references: the model is fitted on FLOPs, params and op counts. The measurements are
  the model's only: they are not evaluations and do not count against the budget.
* ``params``, ``flops``: computed from the network without training or a device, so exact.

``-s dpp.costs=table`` gives the table's exact values instead (:class:`TableCosts`): an
oracle, labelled as such in the printed summary and the results JSON.

``-s dpp.cost_digits=D`` (ours, not the paper's; see :data:`COST_DIGITS`) rounds the few-shot
predictions to ``D`` significant digits; ``auto`` does so (3 digits) only for a target whose
measured architectures repeat a latency value, i.e. a device whose latencies take a few
discrete values (phones timed in whole ms, simulated accelerators): there equal networks tie
in the measurements, and the model's fitting noise would break the ties that NSGA-II's
crowding distance needs to spread the picks over distinct costs; ``null`` never rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dppnas.errors import DppnasError

#: where DPP-Net's costs come from in a benchmark run (``-s dpp.costs=...``)
COST_SOURCES = ("fewshot", "table")
#: architectures measured on the target device to fit the few-shot model (HELP's protocol)
FEWSHOT_SAMPLES = 10
#: cost metrics computed from the network itself (no device, no training): exact in a search
FREE_METRICS = ("params", "flops")
#: significant digits the few-shot latency predictions are rounded to: an int, ``auto``
#: (:data:`AUTO_DIGITS` when the target's measured architectures repeat a value) or None
COST_DIGITS: int | str | None = "auto"
#: the digits of ``auto``
AUTO_DIGITS = 3


@dataclass(frozen=True)
class CostSpec:
    """DPP-Net's benchmark costs: ``source`` (:data:`COST_SOURCES`) and, for ``fewshot``, the
    significant digits its predictions are rounded to (None: unrounded)."""

    source: str = "fewshot"
    digits: int | str | None = COST_DIGITS


def round_significant(values: np.ndarray, digits: int | None) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (unchanged for None)."""
    if digits is None:
        return np.asarray(values, dtype=float)
    return np.array([float(f"{v:.{digits}g}") for v in np.asarray(values, dtype=float)])


class FewShotTableCosts:
    """Predicted costs of every table entry: few-shot latency models, exact free metrics.

    Called as ``costs(configs) -> {metric: [float, ...]}`` (the DPP-Net searcher's cost
    callable) for the ``min`` objectives of ``table``; ``models`` holds the model chosen per
    latency metric (its label and leave-one-out error).
    """

    def __init__(
        self,
        table: Any,
        seed: int,
        samples: int = FEWSHOT_SAMPLES,
        digits: int | str | None = COST_DIGITS,
    ) -> None:
        from dppnas.devices.fewshot import fit_fewshot
        from dppnas.devices.reference_table import table_references
        from dppnas.profiling.transfer import HELP_META_TRAIN, HELP_META_VALID

        self.table = table
        refs = table_references(table)
        rng = np.random.default_rng(seed)
        self.columns: dict[str, np.ndarray] = {}
        self.models: dict[str, str] = {}
        referenced = False
        for objective in table.objectives:
            metric = objective.metric
            if objective.mode == "max":
                continue
            if metric in FREE_METRICS:
                self.columns[metric] = table.values(metric)
                continue
            group, _, device = metric.partition("/")
            if group != "latency":
                raise DppnasError(
                    f"DPP-Net benchmark costs: no predictor for {metric!r} (few-shot models "
                    f"cover latency/<device>; {', '.join(FREE_METRICS)} are exact); use "
                    f"-s dpp.costs=table for the table's values (an oracle)"
                )
            references = [
                f"latency/{d}"
                for d in (*HELP_META_TRAIN, *HELP_META_VALID)
                if d != device and d in refs.latencies
            ]
            referenced = referenced or bool(references)
            features = {
                **refs.features,
                **{r: refs.latencies[r.removeprefix("latency/")] for r in references},
            }
            picked = rng.choice(len(table.entries), size=samples, replace=False)
            measured = table.values(metric)[picked]
            # the single best model, as the nb201-hw search figures were measured (averaging
            # gave DPP-Net no measurable gain there: docs/benchmarks.md, few-shot transfer)
            model = fit_fewshot({k: v[picked] for k, v in features.items()}, measured, average=1)
            places = digits
            if digits == "auto":
                places = AUTO_DIGITS if len(np.unique(measured)) < len(measured) else None
            self.columns[metric] = round_significant(
                model.predict({k: features[k] for k in model.inputs}), places
            )
            self.models[metric] = (
                f"{model.label}, leave-one-out error ~{100 * (model.loo_log_rmse or 0):.0f} %"
                + ("" if places is None else f", rounded to {places} significant digits")
            )
        sources = (
            "HELP meta-train/meta-valid devices"
            if referenced
            else "none, one-device table: FLOPs, params, op counts"
        )
        self.label = (
            f"few-shot latency model ({samples} architectures measured on each target device, "
            f"not counted as evaluations; references: {sources}"
            + ("" if digits is None else f"; significant digits: {digits}")
            + f"); {', '.join(FREE_METRICS)} exact"
        )

    def __call__(self, configs: list[dict[str, Any]]) -> dict[str, list[float]]:
        rows = [self.table.lookup(c["arch"]).index for c in configs]
        return {m: [float(column[i]) for i in rows] for m, column in self.columns.items()}


def bench_costs(table: Any, spec: CostSpec, seed: int) -> Any:
    """DPP-Net's cost callable for one run: ``fewshot`` (default, what a search could know)
    or ``table`` (the table's exact values, an oracle); ``spec`` as checked by
    :func:`~dppnas.bench.compare.split_costs`."""
    from search_algos.dpp.costs import TableCosts

    if spec.source == "table":
        return TableCosts(table)
    return FewShotTableCosts(table, seed, digits=spec.digits)
