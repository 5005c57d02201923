"""torch's CPU thread count, set for a block and restored after it.

Used where a small computation shares the machine with running trials (the searchers'
controller and surrogate) and where a timing must run on a fixed number of threads (devices).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(threads)``; restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
