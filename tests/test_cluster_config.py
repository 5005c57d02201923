"""The cluster configs pass Ray's own autoscaler validation (what `ray up` runs)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _prepared(name: str) -> dict:
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(yaml.safe_load((ROOT / name).read_text()))


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-onprem.yaml"])
def test_cluster_config_is_valid_for_ray(name):
    from ray.autoscaler._private.util import validate_config

    config = _prepared(name)
    validate_config(config)  # raises on a schema violation
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # never on a public address
    assert any("pip install" in c and "-e " in c for c in config["setup_commands"])


def test_validation_would_catch_a_broken_config():
    from jsonschema import ValidationError
    from ray.autoscaler._private.util import validate_config

    config = copy.deepcopy(_prepared("cluster.yaml"))
    config["max_workers"] = "many"
    with pytest.raises(ValidationError):
        validate_config(config)


def test_aws_head_runs_no_trials_and_workers_are_spot_gpus():
    config = _prepared("cluster.yaml")
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    worker = types["gpu_worker"]["node_config"]
    assert worker["InstanceMarketOptions"]["MarketType"] == "spot"
    assert worker["InstanceType"].startswith(("g", "p"))
