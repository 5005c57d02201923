"""Shared fixtures: one Ray session for the few tests that need Ray."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_session():
    """A local Ray with 2 CPUs, started once for every Ray test and shut down at the end."""
    import ray

    # "local": a Ray of our own, never another process's cluster found running on the machine
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()
