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


#: timing options short enough for tests (a few calls per layer or network)
FAST_TIMING = {"warmup": 1, "min_repeats": 3, "max_repeats": 5, "time_cap_s": 0.01}


@pytest.fixture(scope="session")
def quick_table():
    """``profile(space_config, input_shape, path) -> (space, table)``: a latency table of this
    machine with very short timings (one round, 5 calibration networks), saved at ``path``."""

    def profile(space_config, input_shape, path):
        from dppnas.devices.timing import TimingOptions
        from dppnas.profiling.profile import profile_space
        from dppnas.spaces import make_space

        fast = TimingOptions(**FAST_TIMING)
        space = make_space(space_config)
        table = profile_space(
            space,
            input_shape=input_shape,
            device_name="test-cpu",
            rounds=1,
            calibration_networks=5,
            layer_timing=fast,
            network_timing=fast,
            log=lambda m: None,
        )
        table.save(path)
        return space, table

    return profile
