"""A search across a real 3-node Ray cluster, surviving the loss of a worker node mid-search.

The cluster (``ray.cluster_utils.Cluster``: a head and two workers, real Ray nodes on this
machine) runs in its own process, ``tests/_multinode_search.py``, so that it never meets the
test session's Ray (``ray_session`` in conftest.py), which keeps running for the other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

from tests.conftest import ROOT

TRIALS = 9  # as in _multinode_search.py
REPORTS = 3


def test_search_spreads_over_nodes_and_survives_losing_one(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_multinode_search.py"), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    removed = summary["removed"]
    nodes = {summary["head"], *summary["workers"]}
    assert removed not in summary["nodes_alive"]  # the worker node really went away

    # the search used the cluster: reports came from more than one node, the lost one included
    reported_from = Counter(r["node"] for r in summary["reports"])
    assert set(reported_from) <= nodes and len(reported_from) >= 2
    assert reported_from[removed] >= 1

    # every trial is accounted for: completed on a surviving node, after a retry for those
    # that were running on the lost one
    trials = summary["trials"]
    assert len(trials) == TRIALS
    assert all(t["error"] is None and t["final"] for t in trials), trials
    assert all(t["node"] in nodes - {removed} for t in trials)
    finished_on = {t["trial_id"]: t["node"] for t in trials}
    interrupted = {r["trial"] for r in summary["reports"] if r["node"] == removed}
    assert interrupted and interrupted <= set(finished_on)
    epochs = Counter(r["trial"] for r in summary["reports"])
    assert all(epochs[t] > REPORTS for t in interrupted)  # ran again from the start elsewhere

    # the searcher heard of each trial once, as completed; the archive holds every trial
    stats = summary["searcher"]
    assert stats["suggested"] == stats["completed"] == TRIALS
    assert stats["errored"] == 0 and stats["pending"] == 0
    assert sorted(summary["archive"]) == sorted(finished_on)
