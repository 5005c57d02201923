"""``dppnas calibrate``: fit a lookup table or a roofline spec to measurements of the target.

The measurements are ``(architecture, latency_ms)`` pairs of one space, measured on the real
device (at least 10). The calibration is stored in the device file: the table's JSON, or a
roofline spec YAML (a shipped spec is never modified: give ``--out``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dppnas.devices.calibration import Calibration, fit_calibration, read_measurements
from dppnas.devices.layerwise import LayerwiseDevice
from dppnas.devices.lut import LookupTable, LutDevice, now_iso
from dppnas.devices.roofline import (
    RooflineDevice,
    RooflineOptions,
    save_spec,
    spec_names,
    spec_path,
)
from dppnas.errors import DppnasError
from dppnas.profiling.profile import build_measured_rows
from dppnas.spaces import make_space

#: networks needed at least (few-shot calibration after HELP: ~10)
MIN_POINTS = 10


def measured_parts(
    device: LayerwiseDevice,
    space_config: Mapping[str, Any],
    archs: list[dict[str, Any]],
    input_shape: tuple[int, int, int],
    num_classes: int,
    where: str = "measurements",
) -> list[dict[str, float]]:
    """The device's uncalibrated per-family sums (ms) for each architecture of the space."""
    space = make_space(dict(space_config))
    models = build_measured_rows(space, archs, input_shape, num_classes, where)
    return [device.model_parts(model, input_shape) for model in models]


def calibrate_device_file(
    device: str,
    measurements: str | Path,
    space_config: Mapping[str, Any],
    *,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    per_family: bool | None = None,
    out: str | Path | None = None,
) -> tuple[Path, Calibration]:
    """Fit ``device`` (a table path, or a roofline spec name / path) and store the calibration.

    Returns the file written and the calibration.
    """
    rows = read_measurements(measurements)
    archs = [arch for arch, _ in rows]
    latencies = [ms for _, ms in rows]
    source = f"dppnas calibrate: {len(rows)} measurements from {measurements}"
    if device.endswith(".json"):
        table = LookupTable.load(device)
        shape = input_shape or table.input_shape
        if tuple(shape) != table.input_shape:
            raise DppnasError(
                f"--input-shape: the table {device} was profiled at "
                f"{','.join(map(str, table.input_shape))}; measurements at another size need a "
                f"table profiled at that size"
            )
        lut = LutDevice.from_table(table, "target", device)
        parts = measured_parts(
            lut, space_config, archs, shape, num_classes or table.num_classes, str(measurements)
        )
        calibration = fit_calibration(
            parts,
            latencies,
            min_points=MIN_POINTS,
            per_family=per_family,
            source=source,
            groups=lut.calibration.groups,  # the parts are grouped as the table's calibration
        )
        # a new table object: the loaded one is shared by LookupTable.load's cache
        table = dataclasses.replace(table, calibration=calibration, updated=now_iso())
        target = Path(out or device)
        table.save(target)
        return target, calibration

    path = spec_path(device)  # a clear error for an unknown name
    if input_shape is None:
        raise DppnasError("--input-shape: required for a roofline device (C,H,W measured at)")
    if out is None and device in spec_names():
        raise DppnasError(
            f"--out: {device!r} is a shipped spec and is not modified; give --out FILE.yaml "
            f"and use it as `spec: FILE.yaml`"
        )
    # parts are uncalibrated sums: a calibration already in the spec does not enter the fit
    roofline = RooflineDevice("target", RooflineOptions(spec=device))
    parts = measured_parts(
        roofline, space_config, archs, input_shape, num_classes or 10, str(measurements)
    )
    calibration = fit_calibration(
        parts,
        latencies,
        min_points=MIN_POINTS,
        per_family=per_family,
        source=source,
        groups=roofline.calibration.groups,
    )
    target = Path(out or path)
    save_spec(roofline.spec.model_copy(update={"calibration": calibration}), target)
    return target, calibration
