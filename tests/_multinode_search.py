"""A search on a real 3-node Ray cluster on this machine, one worker node removed mid-search.

Run by ``tests/test_multinode.py`` in its own process (it needs its own Ray, apart from the
test session's): ``python tests/_multinode_search.py OUT_DIR``. Starts a head and two worker
nodes (:class:`ray.cluster_utils.Cluster`, 1 CPU each), runs MONAS over a small categorical
space with a pure-function trainable (3 reports of 0.3 s each, 1 s on the node that will be lost,
every report naming the node it ran on), removes the second worker as soon as one of its
trials has reported (so that trial dies mid-run and Tune retries it elsewhere,
``max_failures``), and writes ``OUT_DIR/summary.json``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.cluster_utils import Cluster

from dppnas.jsonl import append_line, read_lines
from dppnas.pareto import Objective, ParetoArchive
from dppnas.tuning.archive_callback import ParetoArchiveCallback
from search_algos import MONASSearcher

TRIALS = 9
REPORTS = 3
OBJECTIVES = [
    Objective(metric="accuracy", mode="max", ref=0.0),
    Objective(metric="latency/cpu", mode="min", ref=10.0),
]


def trainable(config: dict[str, Any]) -> None:
    """A pure function of the config; each report says which node it ran on (and is logged)."""
    node = ray.get_runtime_context().get_node_id()
    trial = tune.get_context().get_trial_id()
    for epoch in range(1, REPORTS + 1):
        time.sleep(1.0 if node == config["slow_node"] else 0.3)
        append_line(
            Path(config["reports"]) / f"{trial}.jsonl",
            {"trial": trial, "node": node, "epoch": epoch},
        )
        width, kernel = config["width"], config["kernel"]
        tune.report(
            {
                "accuracy": (0.4 + 0.1 * width + 0.05 * kernel) * epoch / REPORTS,
                "latency": {"cpu": 1.0 + width * kernel / 3},
                "epochs": REPORTS,
                "final": epoch == REPORTS,
                "node": node,
            }
        )


def reports(folder: Path) -> list[dict[str, Any]]:
    """Every report logged so far (a line being written is skipped)."""
    return [r for f in folder.glob("*.jsonl") for r in read_lines(f)]


def remove_when_used(cluster: Cluster, node: Any, folder: Path, done: threading.Event) -> None:
    """Remove ``node`` once a trial running on it has reported (the trial dies mid-run)."""
    while not done.is_set():
        if any(r["node"] == node.node_id for r in reports(folder)):
            cluster.remove_node(node)
            return
        time.sleep(0.05)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "reports"
    folder.mkdir(exist_ok=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, include_dashboard=False)
    head = ray.get_runtime_context().get_node_id()
    searcher = MONASSearcher(
        [o.metric for o in OBJECTIVES],
        [o.mode for o in OBJECTIVES],
        ref=[o.ref for o in OBJECTIVES],
        batch_size=3,
        seed=0,
    )
    done = threading.Event()
    remover = threading.Thread(target=remove_when_used, args=(cluster, workers[1], folder, done))
    remover.start()
    try:
        results = tune.Tuner(
            trainable,
            param_space={
                "width": tune.randint(1, 5),
                "kernel": tune.choice([1, 3, 5]),
                "reports": str(folder),
                "slow_node": workers[1].node_id,  # the node to be lost: its trials outlive it
            },
            tune_config=tune.TuneConfig(
                search_alg=searcher, num_samples=TRIALS, max_concurrent_trials=3, reuse_actors=True
            ),
            run_config=tune.RunConfig(
                name="multinode",
                storage_path=str(out / "runs"),
                failure_config=tune.FailureConfig(max_failures=3),
                callbacks=[ParetoArchiveCallback(OBJECTIVES, path=out / "archive")],
                verbose=0,
            ),
        ).fit()
    finally:
        done.set()
        remover.join()
    archive = ParetoArchive.load(out / "archive" / "pareto.json")
    summary = {
        "head": head,
        "workers": [w.node_id for w in workers],
        "removed": workers[1].node_id,
        "nodes_alive": sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]),
        "trials": [
            {
                "trial_id": r.metrics.get("trial_id"),
                "error": None if r.error is None else str(r.error),
                "final": r.metrics.get("final"),
                "node": r.metrics.get("node"),
            }
            for r in results
        ],
        "reports": reports(folder),
        "searcher": searcher.stats,
        "archive": [e.trial_id for e in archive.entries],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
