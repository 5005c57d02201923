"""dppnas: device-aware, Pareto-optimal neural architecture search on Ray Tune.

The Tune-facing pieces are importable from the top (loaded on first use, so that
``import dppnas`` does not import Ray)::

    from dppnas import MOASHA, ParetoArchive, ParetoArchiveCallback
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "MOASHA": "dppnas.tuning.moasha",
    "ParetoArchiveCallback": "dppnas.tuning.archive_callback",
    "ParetoArchive": "dppnas.pareto",
    "Objective": "dppnas.pareto",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dppnas' has no attribute {name!r}")
