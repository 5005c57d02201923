"""``dppnas fewshot``: fit a ``fewshot`` device (:mod:`dppnas.devices.fewshot_device`) to N
architectures measured on the target, read from a CSV, and write its device file."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dppnas.devices.calibration import read_measurements
from dppnas.devices.fewshot import AVERAGE, fit_fewshot
from dppnas.devices.fewshot_device import (
    FewShotFile,
    architecture_features,
    module_features,
    reference_latencies,
)
from dppnas.devices.lut import now_iso, write_json
from dppnas.errors import DppnasError
from dppnas.profiling.profile import build_measured_rows
from dppnas.spaces import make_space


def read_fewshot_measurements(path: str | Path) -> list[tuple[dict[str, Any], float, float | None]]:
    """``(arch, latency_ms, energy_mj or None)`` rows of a CSV with columns ``arch`` (JSON
    object), ``latency_ms`` and optionally ``energy_mj``."""
    rows = read_measurements(path)  # checks arch and latency_ms, one clear error per row
    with Path(path).open(newline="") as f:
        raw = list(csv.DictReader(f))
    energies: list[float | None] = []
    for line, row in enumerate(raw, start=2):
        text = (row.get("energy_mj") or "").strip()
        if not text:
            energies.append(None)
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise DppnasError(f"{path}:{line}: energy_mj must be positive, got {text!r}")
        energies.append(value)
    return [(arch, ms, mj) for (arch, ms), mj in zip(rows, energies, strict=True)]


def build_fewshot(
    measurements: str | Path,
    table: str | None = None,
    references: list[str] | None = None,
    device: str = "target",
    *,
    space: Mapping[str, Any] | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int = 10,
    average: int = AVERAGE,
) -> FewShotFile:
    """Fit the latency (and energy) models of ``device`` to its measured architectures, on a
    reference ``table``'s features (``references``: its devices to use, default all) or on
    module features of ``space`` at ``input_shape`` (``references``: lut files); ``average``:
    models averaged at most (:func:`~dppnas.devices.fewshot.fit_fewshot`)."""
    if (table is None) == (space is None):
        raise DppnasError("fewshot: give either a reference table (--table) or a space (--space)")
    rows = read_fewshot_measurements(measurements)
    archs = [arch for arch, _, _ in rows]
    refs = list(references or [])
    if table is not None:
        reference = reference_latencies(table)
        refs = refs or reference.devices
        unknown = [r for r in refs if r not in reference.latencies]
        if unknown:
            raise DppnasError(
                f"--references: {', '.join(unknown)} not in {table} (devices: "
                f"{', '.join(reference.devices)})"
            )
        features = architecture_features(table, archs, str(measurements))
        features = {
            k: v for k, v in features.items() if not k.startswith("latency/") or k[8:] in refs
        }
    else:
        if input_shape is None:
            raise DppnasError("--input-shape: required with --space (C,H,W measured at)")
        built = make_space(dict(space))  # type: ignore[arg-type]
        models = build_measured_rows(built, archs, input_shape, num_classes, str(measurements))
        per_arch = [module_features(model, input_shape, refs) for model in models]
        features = {k: np.array([f[k] for f in per_arch]) for k in per_arch[0]}
        space = built.config()
    latency = fit_fewshot(features, [ms for _, ms, _ in rows], average=average)
    energies = [mj for _, _, mj in rows]
    energy = None
    if any(mj is not None for mj in energies):
        if any(mj is None for mj in energies):
            raise DppnasError(f"{measurements}: energy_mj is given for some rows only")
        energy = fit_fewshot(features, energies, average=average)  # type: ignore[arg-type]
    return FewShotFile(
        device=device,
        table=table,
        references=refs,
        space=dict(space) if space is not None else None,
        input_shape=input_shape if table is None else None,
        num_classes=num_classes if table is None else None,
        latency=latency,
        energy=energy,
        measurements=str(measurements),
        created=now_iso(),
    )


def save_fewshot(model: FewShotFile, path: str | Path) -> None:
    """Write the device file as JSON, atomically."""
    write_json(model.model_dump(mode="json"), path)
