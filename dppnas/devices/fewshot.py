"""Few-shot latency model: an unseen device's latency from N of its measured architectures.

HELP (Lee et al., NeurIPS 2021) transfers a meta-learned predictor to a new device from 10
measured architectures. Ours is simpler and needs no training: the target's latency is a
regression, fitted to the N measurements, on features that are free for every candidate of
the space (named arrays, one value per architecture):

* ``latency/<device>``: a reference device's known latency (ms) from a benchmark table;
* ``lut/<name>``: the per-layer table sum (ms) of a profiled reference device;
* ``flops`` (FLOPs per image), ``params``;
* ``ops/<choice>``: how many decisions chose ``choice`` (per-op terms);
* ``live/<choice>``, ``connected``: where a space's cells can hold dead edges (NB201 encodings
  that are not canonical), how many *live* decisions chose ``choice`` (on a path from the
  cell's input to its output: what a runtime that folds constants and drops dead code still
  runs) and whether the cell's output depends on its input at all (0: the runtime may fold the
  whole network to a constant).

A few small models are tried (:func:`candidate_models`): each reference alone, linear
(``a + b x``) and log-log (``log y = a + b log x``), a reference plus FLOPs, FLOPs (and params),
the op counts, the live-op counts (with and without ``connected``), all references
(non-negative), all references in log space (ridge). The one
with the smallest leave-one-out error on the N points (RMS of ``log(pred / measured)``, i.e.
about the relative error) is refitted on all N. Linear fits minimise relative error, as the
score (share within +-10 %) is relative. Pure numpy / scipy: a fit takes milliseconds.

Averaging (ours, ``average``, default :data:`AVERAGE`): the prediction is the geometric mean
of the ``average`` models with the smallest leave-one-out errors, among those at most
:data:`AVERAGE_WITHIN` times the best one's error. With 10 points the leave-one-out error
picks a model noisily, and the mean of several good ones varies less than any one of them.
The bound keeps a model that fits exactly (a simulator that is a linear function of the op
counts) from being averaged with worse ones. On HELP's meta-test devices, with 10 samples,
the share within +-10 % rises on pixel2, raspi4 and gold_6226, and the mean Spearman rises from
0.962 to 0.966 (docs/benchmarks.md). ``average=1`` is the single best model, the form before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dppnas.errors import DppnasError

#: measured architectures a fit needs at least (HELP's protocol uses 10)
MIN_POINTS = 3
#: ridge penalties of the all-references log-space model
LOG_RIDGES: tuple[float, ...] = (0.1, 1.0, 10.0)
#: leave-one-out error given to a prediction that is not positive (log error is undefined)
_BAD_LOG_ERROR = 10.0
#: models averaged at most (ours; 1 to 8 tried on HELP's meta-valid devices, docs/benchmarks.md)
AVERAGE = 5
#: a model is averaged only if its leave-one-out error is at most this times the best one's
AVERAGE_WITHIN = 2.0
#: prefix of the live-op counts and name of the connected-cell feature (see the module doc)
LIVE_PREFIX = "live/"
CONNECTED_FEATURE = "connected"

Form = Literal["linear", "log"]


@dataclass(frozen=True)
class Candidate:
    """One model tried: ``form`` on ``features`` (``ridge`` only for the log form)."""

    form: Form
    features: tuple[str, ...]
    ridge: float = 0.0

    @property
    def label(self) -> str:
        ridge = f", ridge {self.ridge:g}" if self.ridge else ""
        return f"{self.form}({' + '.join(self.features)}{ridge})"


class Regression(BaseModel):
    """One fitted regression: ``y = intercept + sum_i coef_i x_i`` (``linear``) or
    ``log y = intercept + sum_i coef_i log x_i`` (``log``), ``y`` in the unit of the
    measurements (ms for latency, mJ for energy)."""

    model_config = ConfigDict(extra="forbid")
    form: Form
    features: list[str]
    intercept: float
    coefficients: list[float]
    ridge: float = 0.0
    loo_log_rmse: float | None = Field(
        None, description="leave-one-out RMS of log(pred/measured), about the relative error"
    )

    @property
    def label(self) -> str:
        return Candidate(self.form, tuple(self.features), self.ridge).label

    def predict(self, features: Mapping[str, np.ndarray | Sequence[float]]) -> np.ndarray:
        """Predictions for every architecture of ``features`` (arrays of equal length)."""
        x = _columns(features, self.features)
        coef = np.asarray(self.coefficients, dtype=float)
        if self.form == "log":
            return np.exp(self.intercept + _log(x) @ coef)
        return self.intercept + x @ coef


class FewShotModel(Regression):
    """A fitted few-shot model: the regression with the smallest leave-one-out error, and the
    next best ones (``averaged``) whose predictions are averaged with its own."""

    points: int = Field(ge=1, description="measured architectures fitted")
    fit_mape: float = Field(description="mean abs. error on the fitted points, %")
    candidates: int = Field(1, description="models compared by leave-one-out error")
    averaged: list[Regression] = Field(
        default_factory=list,
        description="further models averaged in (geometric mean), best first",
    )

    @property
    def label(self) -> str:
        more = f" averaged with {len(self.averaged)} more" if self.averaged else ""
        return super().label + more

    @property
    def inputs(self) -> list[str]:
        """Every feature :meth:`predict` reads (the best model's first)."""
        names = list(self.features)
        for member in self.averaged:
            names += [f for f in member.features if f not in names]
        return names

    def predict(self, features: Mapping[str, np.ndarray | Sequence[float]]) -> np.ndarray:
        """Predictions for every architecture of ``features``: the geometric mean of the
        models' positive predictions (the best model's own where none is positive)."""
        best = super().predict(features)
        if not self.averaged:
            return best
        preds = np.vstack([best, *(m.predict(features) for m in self.averaged)])
        positive = preds > 0
        logs = np.where(positive, np.log(np.where(positive, preds, 1.0)), 0.0)
        count = positive.sum(axis=0)
        mean = np.exp(logs.sum(axis=0) / np.maximum(count, 1))
        return np.where(count > 0, mean, best)


def _columns(
    features: Mapping[str, np.ndarray | Sequence[float]], names: Sequence[str]
) -> np.ndarray:
    missing = [n for n in names if n not in features]
    if missing:
        raise DppnasError(
            f"few-shot model: feature(s) {', '.join(missing)} not available "
            f"(available: {', '.join(sorted(features)) or 'none'})"
        )
    return np.column_stack([np.asarray(features[n], dtype=float) for n in names])


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, 1e-12))


def candidate_models(names: Sequence[str]) -> list[Candidate]:
    """The models tried on features ``names`` (simplest first: ties go to the earlier)."""
    names = list(names)
    refs = [n for n in names if n.startswith(("latency/", "lut/"))]
    ops = [n for n in names if n.startswith("ops/")]
    live = [n for n in names if n.startswith(LIVE_PREFIX)]
    has_flops, has_params = "flops" in names, "params" in names
    cands: list[Candidate] = []
    if has_flops:
        cands.append(Candidate("linear", ("flops",)))
    for ref in refs:
        cands.append(Candidate("linear", (ref,)))
        cands.append(Candidate("log", (ref,)))
    if has_flops and has_params:
        cands.append(Candidate("linear", ("flops", "params")))
    if has_flops:
        cands.extend(Candidate("linear", (ref, "flops")) for ref in refs)
    if ops:
        cands.append(Candidate("linear", tuple(ops)))
    if live:
        cands.append(Candidate("linear", tuple(live)))
        if CONNECTED_FEATURE in names:
            # the intercept is then the cost of a disconnected cell (~0 where it is folded)
            cands.append(Candidate("linear", (*live, CONNECTED_FEATURE)))
    if len(refs) > 1:
        cands.append(Candidate("linear", tuple(refs)))
        cands.extend(Candidate("log", tuple(refs), ridge) for ridge in LOG_RIDGES)
    return cands


def _fit_linear(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[intercept, coef...]`` minimising relative squared error, coefficients >= 0."""
    from scipy.optimize import nnls

    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1.0
    a = np.column_stack([np.ones(len(y)), x / scale]) / y[:, None]
    # a free intercept as the difference of two non-negative ones
    sol, _ = nnls(np.column_stack([a, -a[:, 0]]), np.ones(len(y)))
    return np.concatenate([[sol[0] - sol[-1]], sol[1:-1] / scale])


def _fit_log(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """``[intercept, coef...]`` of least squares in log space, ridge on the coefficients."""
    lx = _log(x)
    k = lx.shape[1]
    a = np.vstack([np.column_stack([np.ones(len(y)), lx]), np.sqrt(ridge) * np.eye(k + 1)[1:]])
    b = np.concatenate([np.log(y), np.zeros(k)])
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _fit(cand: Candidate, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _fit_log(x, y, cand.ridge) if cand.form == "log" else _fit_linear(x, y)


def _predict(cand: Candidate, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    if cand.form == "log":
        return np.exp(coef[0] + _log(x) @ coef[1:])
    return coef[0] + x @ coef[1:]


def _log_errors(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    err = np.full(len(y), _BAD_LOG_ERROR)
    ok = pred > 0
    err[ok] = np.abs(np.log(pred[ok] / y[ok]))
    return err


def _loo_error(cand: Candidate, x: np.ndarray, y: np.ndarray) -> float:
    preds = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        preds[i] = _predict(cand, _fit(cand, x[keep], y[keep]), x[i : i + 1])[0]
    return float(np.sqrt(np.mean(np.square(_log_errors(preds, y)))))


def fit_fewshot(
    features: Mapping[str, np.ndarray | Sequence[float]],
    measured: Sequence[float] | np.ndarray,
    candidates: Sequence[Candidate] | None = None,
    average: int = AVERAGE,
) -> FewShotModel:
    """Fit the target's ``measured`` values (ms or mJ, one per architecture) on ``features``
    (arrays over the same architectures), choosing the model by leave-one-out error and
    averaging up to ``average`` of the best (see the module docstring; 1: the best alone)."""
    if average < 1:
        raise DppnasError(
            f"few-shot model: --average must be at least 1 (models averaged), got {average}"
        )
    y = np.asarray(measured, dtype=float)
    if len(y) < MIN_POINTS:
        raise DppnasError(
            f"few-shot model: needs at least {MIN_POINTS} measured architectures, got {len(y)}"
        )
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise DppnasError("few-shot model: every measured value must be a positive number")
    cands = list(candidates) if candidates is not None else candidate_models(list(features))
    # (more coefficients than points is allowed: non-negativity or the ridge keeps such fits
    # sparse or small, and the leave-one-out error judges them like the others)
    if not cands:
        raise DppnasError(
            "few-shot model: no usable features (give reference latencies, flops, params or "
            "op counts)"
        )
    columns = {c: _columns(features, c.features) for c in cands}
    for c, x in columns.items():
        if len(x) != len(y):
            raise DppnasError(
                f"few-shot model: feature {c.features} has {len(x)} values, not {len(y)}"
            )
    if candidates is None:
        # ``connected`` the same on every measured cell cannot be told from the intercept:
        # such a fit would predict a disconnected cell's cost arbitrarily
        cands = [
            c
            for c in cands
            if CONNECTED_FEATURE not in c.features
            or np.ptp(columns[c][:, c.features.index(CONNECTED_FEATURE)]) > 0
        ]
    scores = [_loo_error(c, columns[c], y) for c in cands]
    # best first; ties go to the earlier (simpler) model, an undefined error last
    order = sorted(range(len(cands)), key=lambda i: (math.isnan(scores[i]), round(scores[i], 9)))
    bound = AVERAGE_WITHIN * scores[order[0]]
    fits = []
    for i in [order[0], *(i for i in order[1:average] if scores[i] <= bound)]:
        coef = _fit(cands[i], columns[cands[i]], y)
        fits.append(
            Regression(
                form=cands[i].form,
                features=list(cands[i].features),
                intercept=float(coef[0]),
                coefficients=[float(c) for c in coef[1:]],
                ridge=cands[i].ridge,
                loo_log_rmse=None if math.isnan(scores[i]) else scores[i],
            )
        )
    model = FewShotModel(
        **fits[0].model_dump(),
        points=len(y),
        fit_mape=0.0,
        candidates=len(cands),
        averaged=fits[1:],
    )
    fitted = model.predict({k: features[k] for k in model.inputs})
    model.fit_mape = float(np.mean(np.abs(fitted - y) / y) * 100)
    return model


def op_counts(
    archs: Sequence[Mapping[str, object]], choices: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """``ops/<choice>`` features: how many of each architecture's decisions chose ``choice``
    (string choices only; ``choices`` defaults to every string value seen)."""
    if choices is None:
        choices = sorted({v for a in archs for v in a.values() if isinstance(v, str)})
    return {
        f"ops/{choice}": np.array([sum(v == choice for v in a.values()) for a in archs], float)
        for choice in choices
    }
