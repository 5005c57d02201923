"""``dppnas devices``: the devices one can configure here, and where their numbers come from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from dppnas.devices.fewshot_device import FewShotDevice, FewShotOptions
from dppnas.devices.lut import LutDevice, LutOptions
from dppnas.devices.measured import MeasuredDevice, MeasuredOptions
from dppnas.devices.roofline import RooflineDevice, RooflineOptions, spec_names
from dppnas.errors import DppnasError, validate_section


def available_devices(tables: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
    """``(name, kind, source)`` rows: this machine, latency tables, few-shot device files
    (``*.fewshot.json`` in the current directory), roofline specs.

    ``tables`` are table files to describe (default: ``*.lut.json`` in the current directory);
    one of them missing or unreadable is an error, while a file found by the default pattern
    that cannot be read is listed as unreadable.
    """
    rows = [("local-cpu", "measured", MeasuredDevice("local-cpu", MeasuredOptions()).source())]
    if torch.cuda.is_available():
        cuda = MeasuredDevice("local-gpu", MeasuredOptions(device="cuda"))
        rows.append(("local-gpu", "measured", cuda.source()))
    paths = (
        list(tables) if tables is not None else sorted(str(p) for p in Path().glob("*.lut.json"))
    )
    for path in paths:
        try:
            options = validate_section(LutOptions, {"path": path}, "")
            device = LutDevice(Path(path).name, options)  # type: ignore[arg-type]
            rows.append((path, "lut", device.source()))
        except (DppnasError, ValueError) as err:
            if tables is not None:
                raise DppnasError(str(err).splitlines()[0]) from None
            rows.append((path, "lut", f"unreadable: {str(err).splitlines()[0]}"))
    if not paths:
        rows.append(
            (
                "(table file)",
                "lut",
                "measured on the target per layer: `dppnas profile --space S --out T.json`, "
                "then {kind: lut, path: T.json}",
            )
        )
    for path in sorted(str(p) for p in Path().glob("*.fewshot.json")):
        try:
            device = FewShotDevice(Path(path).name, FewShotOptions(path=path))
            rows.append((path, "fewshot", device.source()))
        except (DppnasError, ValueError) as err:
            rows.append((path, "fewshot", f"unreadable: {str(err).splitlines()[0]}"))
    for name in spec_names():
        rows.append((name, "roofline", RooflineDevice(name, RooflineOptions(spec=name)).source()))
    return rows
