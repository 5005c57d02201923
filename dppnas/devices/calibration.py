"""Calibration: fit a cheap latency model to a few real measurements of the target.

A layer-wise device (lookup table, roofline) gives, per network, the *uncalibrated* time of its
layers summed per op family (:data:`~dppnas.signatures.layer.FAMILIES`), in ms. The calibrated
prediction is ``intercept_ms + sum_f scale_f * parts_f``: the intercept absorbs what a sum of
layers misses (framework overhead per call), the scales what isolated timings or a spec sheet
get wrong. Few-shot, after HELP (Lee et al., NeurIPS 2021): about 10 measured networks suffice
for a scale and an intercept.

Fit: least squares on *relative* errors (the acceptance measure is relative), scales kept
non-negative (``scipy.optimize.lsq_linear``). With enough points, per-family scales are fitted
with a ridge penalty pulling them towards the single scale; the penalty (including "single
scale only") is chosen by leave-one-out error, so per-family scales are used only when the data
support them.

Call terms (grouping ``backend``, ours): a part named ``calls:<backend>`` counts a network's
convolutions run by that backend (:mod:`dppnas.signatures.backend`); its scale is a time per
call (ms), fitted apart from the scales (never tied to the single scale nor pulled towards it;
only :data:`CALL_RIDGE` pulls it weakly to 0). On this CPU a oneDNN convolution costs
0.02-0.04 ms more inside a network than its time alone, which no per-layer scale expresses: on
``monas`` it was most of the small networks' error (docs/benchmarks.md).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dppnas.errors import DppnasError

if TYPE_CHECKING:
    from dppnas.signatures.layer import LayerSignature

#: ridge penalties tried for per-family scales (inf = one scale for all families)
RIDGE_GRID: tuple[float, ...] = (math.inf, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.0)
#: the key of the scale applied to families without their own
ANY_FAMILY = "*"
#: how a network's layer times are grouped into the calibration's parts: by op ``family``, or
#: with convolutions split further by kernel size and groups (``kernel``: ``conv:k3x3:g1``), or
#: that and a call count per convolution backend (``backend``: ``calls:Mkldnn``)
GROUPINGS: tuple[str, ...] = ("family", "kernel", "backend")
#: the prefix of a part that counts calls (a number, not ms): ``calls:<backend>``
CALLS = "calls:"
#: ridge penalty pulling a time per call towards 0 (ours): too weak to move a per-call time the
#: data determine, it settles one they cannot separate from the intercept (every network of a
#: space having the same number of convolutions) at the smallest times per call
CALL_RIDGE = 1e-3


def group_of(signature: LayerSignature, grouping: str = "family") -> str:
    """The calibration part (:data:`GROUPINGS`) a layer's time is summed into.

    ``kernel`` (ours): a convolution's time inside a network differs from its time alone by a
    factor that depends on its kernel and group count (fitted on ``dpp``: 0.71-2.11 for grouped
    3x3 convolutions); on a quiet machine, held-out ``dpp`` networks within +-10 % 0.940 with
    ``family`` -> 0.990, ``monas`` and ``nb201`` unchanged (docs/benchmarks.md). ``backend``
    groups layer times as ``kernel`` does and adds call counts (the module doc).
    """
    return signature.family if grouping == "family" else signature.kernel_group


class Calibration(BaseModel):
    """``latency_ms = intercept_ms + sum_g scales[g] * parts[g]`` over the groups ``g`` of
    :func:`group_of` (a group without a scale takes its family's, then ``scales["*"]``)."""

    model_config = ConfigDict(extra="forbid")
    intercept_ms: float = 0.0
    scales: dict[str, float] = Field(default_factory=lambda: {ANY_FAMILY: 1.0})
    method: str = Field("identity", description="identity | scale+intercept | per-family")
    ridge: float | None = Field(None, description="ridge penalty of the per-family fit")
    points: int = Field(0, ge=0, description="measured networks fitted")
    fit_mape: float | None = Field(None, description="mean abs. error on the fitted points, %")
    loo_mape: float | None = Field(None, description="leave-one-out mean abs. error, %")
    source: str = Field("", description="where the measurements came from")
    groups: str = Field(
        "family", description="how layer times are grouped into parts: family | kernel"
    )

    def group(self, signature: LayerSignature) -> str:
        """The part ``signature``'s time is summed into (:func:`group_of`)."""
        return group_of(signature, self.groups)

    def scale(self, group: str) -> float:
        """The scale of a part; a call count of a backend the fit never saw costs nothing."""
        if group.startswith(CALLS):
            return self.scales.get(group, 0.0)
        found = self.scales.get(group)
        if found is None:
            found = self.scales.get(group.split(":", 1)[0], self.scales.get(ANY_FAMILY, 1.0))
        return found

    def summary(self) -> str:
        """One line for a log: the intercept, the scales and the times per call (ms)."""
        scales = ", ".join(
            f"{g} {v:.3f}" for g, v in self.scales.items() if not g.startswith(CALLS)
        )
        per_call = ", ".join(
            f"{g.removeprefix(CALLS)} {v:.4f} ms"
            for g, v in self.scales.items()
            if g.startswith(CALLS)
        )
        return f"intercept {self.intercept_ms:.4f} ms, scales {scales}" + (
            f"; per call {per_call}" if per_call else ""
        )

    def apply(self, parts: Mapping[str, float]) -> float:
        """Calibrated latency (ms) from uncalibrated per-family sums (ms)."""
        return self.intercept_ms + sum(self.scale(f) * ms for f, ms in parts.items())


def _design(parts: Sequence[Mapping[str, float]], families: list[str]) -> np.ndarray:
    return np.array([[p.get(f, 0.0) for f in families] for p in parts], dtype=float)


def _solve(
    x: np.ndarray, y: np.ndarray, ridge: float, prior: float, free: np.ndarray
) -> np.ndarray:
    """``[intercept, scale_1..k]`` minimising relative squared error (+ ridge to ``prior``).

    ``free`` marks the call-count columns: not tied to the single scale nor pulled to ``prior``;
    only :data:`CALL_RIDGE` pulls them to 0.
    """
    from scipy.optimize import lsq_linear

    n, k = x.shape
    single = math.isinf(ridge)  # one scale for every family (and a time per call of each backend)
    design = np.column_stack([x[:, ~free].sum(axis=1), x[:, free]]) if single else x
    calls = np.concatenate([[False], free]) if single else free
    columns = design.shape[1]
    a = [np.column_stack([np.ones(n), design]) / y[:, None]]
    b = [np.ones(n)]
    for column in range(columns):
        weight = CALL_RIDGE if calls[column] else (0.0 if single else ridge)
        if weight > 0:
            row = np.zeros(columns + 1)
            row[column + 1] = math.sqrt(weight)
            a.append(row[None, :])
            b.append([0.0 if calls[column] else math.sqrt(weight) * prior])
    lower = [-np.inf] + [0.0] * columns
    sol = lsq_linear(np.vstack(a), np.concatenate(b), bounds=(lower, np.inf)).x
    if not single:
        return sol
    coef = np.empty(k + 1)
    coef[0] = sol[0]
    coef[1:][~free] = sol[1]
    coef[1:][free] = sol[2:]
    return coef


def _mape(x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> float:
    pred = coef[0] + x @ coef[1:]
    return float(np.mean(np.abs(pred - y) / y) * 100)


def _single_scale(x: np.ndarray, y: np.ndarray, free: np.ndarray) -> float:
    """The one scale of every family's time (the per-family fit's ridge prior)."""
    return float(_solve(x, y, math.inf, 1.0, free)[1:][~free][0])


def _loo_mape(x: np.ndarray, y: np.ndarray, ridge: float, free: np.ndarray) -> float:
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        prior = _single_scale(x[keep], y[keep], free) if not math.isinf(ridge) else 1.0
        coef = _solve(x[keep], y[keep], ridge, prior, free)
        errors.append(abs(coef[0] + x[i] @ coef[1:] - y[i]) / y[i])
    return float(np.mean(errors) * 100)


def fit_calibration(
    parts: Sequence[Mapping[str, float]],
    measured_ms: Sequence[float],
    *,
    min_points: int = 10,
    per_family: bool | None = None,
    source: str = "",
    groups: str = "family",
) -> Calibration:
    """Fit a :class:`Calibration` to networks' uncalibrated ``parts`` and measured latencies (ms).

    ``groups``: how the ``parts`` were grouped (:data:`GROUPINGS`), recorded in the result.

    ``per_family``: ``None`` chooses by leave-one-out error (per-family scales need at least
    ``3 * (families + 1)`` points), ``False`` fits one scale, ``True`` only per-family scales.
    """
    n = len(measured_ms)
    if n != len(parts):
        raise ValueError("one measured latency per network is needed")
    if groups not in GROUPINGS:
        raise ValueError(f"unknown grouping {groups!r}; one of {', '.join(GROUPINGS)}")
    if n < min_points:
        raise DppnasError(
            f"calibration needs at least {min_points} measured networks, got {n} "
            f"(measure more architectures of the target)"
        )
    y = np.asarray(measured_ms, dtype=float)
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise DppnasError("calibration: every measured latency must be a positive number (ms)")
    families = sorted({f for p in parts for f, v in p.items() if v != 0.0})
    free = np.array([f.startswith(CALLS) for f in families], dtype=bool)
    if free.all():
        raise DppnasError("calibration: the networks have no layers with a known time")
    x = _design(parts, families)

    enough = n >= 3 * (len(families) + 1)
    if per_family is None:
        grid = RIDGE_GRID if enough and (~free).sum() > 1 else (math.inf,)
    elif per_family:
        grid = tuple(r for r in RIDGE_GRID if not math.isinf(r))
    else:
        grid = (math.inf,)
    scores = {r: _loo_mape(x, y, r, free) for r in grid} if n >= 3 else {grid[0]: math.nan}
    # ties (within rounding) go to the simpler model: one scale, then the strongest ridge
    ridge = min(scores, key=lambda r: (round(scores[r], 6), -r))
    prior = _single_scale(x, y, free)
    coef = _solve(x, y, ridge, prior, free)
    single = math.isinf(ridge)
    fitted = {
        f: float(c)
        for f, c, call in zip(families, coef[1:], free, strict=True)
        if call or not single
    }
    scales = {ANY_FAMILY: prior, **fitted}
    loo = scores[ridge]
    return Calibration(
        intercept_ms=float(coef[0]),
        scales=scales,
        method="scale+intercept" if single else "per-family",
        ridge=None if single else float(ridge),
        points=n,
        fit_mape=_mape(x, y, coef),
        loo_mape=None if math.isnan(loo) else loo,
        source=source,
        groups=groups,
    )


def read_measurements(path: str | Path) -> list[tuple[dict[str, Any], float]]:
    """``(architecture, latency_ms)`` pairs from a CSV file with columns ``arch,latency_ms``.

    ``arch`` is the architecture as a JSON object (what a trial config holds under ``"arch"``);
    other columns are ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise DppnasError(f"{path}: measurements file not found (a CSV with arch,latency_ms)")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return _measurement_rows(path, csv.DictReader(f))
    except UnicodeDecodeError:
        raise DppnasError(f"{path}: not a UTF-8 text file; save the CSV as UTF-8") from None
    except csv.Error as err:  # NUL bytes, a field over the size limit
        raise DppnasError(f"{path}: not a readable CSV file ({err})") from None


def _measurement_rows(path: Path, reader: csv.DictReader) -> list[tuple[dict[str, Any], float]]:
    rows: list[tuple[dict[str, Any], float]] = []
    missing = {"arch", "latency_ms"} - set(reader.fieldnames or ())
    if missing:
        raise DppnasError(
            f"{path}: missing column(s) {', '.join(sorted(missing))}; expected a header "
            f"with arch (JSON object) and latency_ms"
        )
    for line, row in enumerate(reader, start=2):
        try:
            arch = json.loads(row["arch"])
            latency = float(row["latency_ms"])
        except (TypeError, ValueError, RecursionError):
            raise DppnasError(
                f"{path}:{line}: arch must be a JSON object and latency_ms a number"
            ) from None
        if not isinstance(arch, dict):
            raise DppnasError(f"{path}:{line}: arch must be a JSON object")
        if not (math.isfinite(latency) and latency > 0):
            raise DppnasError(f"{path}:{line}: latency_ms must be positive, got {latency}")
        rows.append((arch, latency))
    return rows
