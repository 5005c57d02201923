#!/usr/bin/env python
"""Chaos run: a DPP-Net search whose driver is SIGKILLed and resumed again and again.

The search replays a benchmark table with :class:`dppnas.bench.replay.TabularTrainable`
(by default a synthetic table written here: every cell of a depth-3 ``dpp`` space, metrics
from a pure function of the architecture), checkpointing as ``train_architecture`` does
(``train.checkpoint_every``, default every epoch; ``--no-checkpoints``: never), so trials take
milliseconds and kills land in every phase of the Tune loop: while trials start, report,
checkpoint, complete, while the searcher plans a step, while Tune snapshots the experiment.
The driver (``dppnas.search.run_search``, the code behind ``dppnas search``) runs in a
subprocess; once it has completed at least one new trial, it is SIGKILLed at a random moment
within ``--max-delay`` s (then its process group: Ray's local processes) and started again
with ``resume=True``, ``--kills`` times; the last session runs to the end.

Every result and completion Tune reports in any session is appended (fsynced) to
``events.jsonl`` by a small callback: the record of what had completed before each kill. At
the end:

* ``completed``: trials the final run state holds as finished (each must be in pareto.json);
* ``lost``: trials that completed in some session (or were in pareto.json after a kill) but
  are missing from the final run state or from the final pareto.json;
* ``duplicated``: completions beyond the first of one architecture (DPP-Net never suggests a
  cell twice, so a repeat means a completed trial was forgotten and suggested again) plus
  trials that replayed epochs (a non-final report) after they had completed;
* ``resumes``: sessions started with ``resume=True``.

Trials resumed after they had completed (Tune's last snapshot still had them running), which
complete again from their last checkpoint without training (they report their final result
again), are counted apart (printed, not in ``duplicated``): the same trial, not a second one.

The last line printed is exactly ``completed=A lost=B duplicated=C resumes=D``.

    python scripts/chaos.py                      # 6 kills, ~90 trials, a few minutes on 2 cores
    python scripts/chaos.py --kills 10 --seed 3 --work /tmp/chaos
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune import Callback

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dppnas.jsonl import append_line, read_lines  # noqa: E402 - after the path

RUN_NAME = "chaos"
EVENTS = "events.jsonl"
SPACE = {
    "name": "dpp",
    "max_depth": 3,
    "stem_width": 8,
    "cells_per_stage": [1, 1],
    "growth": [8, 8],
}
EPOCHS = 3
# per-op (accuracy gain, params, latency ms) of the synthetic table: a pure function, no training
NORM_GAIN = {"bn_relu": 0.03, "bn": 0.015, "identity": 0.0}
CONV_COST = {
    "conv1x1": (0.010, 600, 0.05),
    "conv3x3": (0.030, 4800, 0.16),
    "gconv1x1": (0.006, 200, 0.04),
    "gconv3x3": (0.020, 1300, 0.09),
    "lgconv1x1": (0.008, 250, 0.05),
    "dwconv3x3": (0.018, 700, 0.07),
}


# ---- the synthetic table ---------------------------------------------------------------


def _jitter(key: str) -> float:
    """A deterministic number in [0, 1) from an architecture key (a stand-in for noise)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32


def write_synthetic_table(path: Path) -> Path:
    """Every cell of :data:`SPACE` with accuracy per epoch (0-1), params, FLOPs and latency (ms)
    computed by a pure function of its layers; the ``dppnas bench`` table format."""
    from dppnas.spaces import Cell, arch_key, make_space

    space = make_space(SPACE)
    layers = list(itertools.product(NORM_GAIN, CONV_COST))
    entries = []
    for depth in range(1, SPACE["max_depth"] + 1):
        for cell in itertools.product(layers, repeat=depth):
            arch = space.encode(Cell(cell))
            key = arch_key(arch)
            gain = sum(NORM_GAIN[n] + CONV_COST[c][0] for n, c in cell)
            final = min(0.97, 0.70 + gain + 0.04 * _jitter(key))
            params = 5000 + sum(CONV_COST[c][1] for _, c in cell)
            entries.append(
                {
                    "arch": arch,
                    "val_accuracy": [round(final * (1 - 0.3 / e), 5) for e in range(1, EPOCHS + 1)],
                    "test_accuracy": round(final - 0.01, 5),
                    "params": params,
                    "flops": params * 64,
                    "latency_ms": round(0.2 + sum(CONV_COST[c][2] for _, c in cell), 4),
                }
            )
    table = {
        "format": 1,
        "name": "chaos-synthetic",
        "recipe": {"space": space.config(), "note": "synthetic: a pure function, no training"},
        "objectives": [
            {"metric": "accuracy", "mode": "max", "ref": 0.5},
            {"metric": "params", "mode": "min", "ref": 30000},
        ],
        "entries": entries,
    }
    with gzip.open(path, "wt") as f:
        json.dump(table, f)
    return path


# ---- the driver (one session, in a subprocess) -----------------------------------------


class EventLog(Callback):
    """Appends one JSON line (fsynced) per trial result and per completion: ``{event,
    trial_id, iteration, final, arch, pid}``; the driver's pid tells the sessions apart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _write(self, event: str, trial: Any, result: dict[str, Any] | None = None) -> None:
        from dppnas.spaces import arch_key

        result = result if result is not None else (trial.last_result or {})
        record = {
            "event": event,
            "trial_id": trial.trial_id,
            "iteration": result.get("training_iteration"),
            "final": result.get("final"),
            "arch": arch_key(dict(trial.config.get("arch", {}))),
            "pid": os.getpid(),
        }
        append_line(self.path, record)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        self._write("result", trial, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._write("complete", trial)


def drive(
    experiment_file: Path, table: Path, work: Path, resume: bool, checkpoints: bool = True
) -> int:
    """One driver session: start the search, or resume it, and run until done or killed."""
    from dppnas.bench.replay import TabularTrainable
    from dppnas.config import load_experiment
    from dppnas.search import run_search

    experiment = load_experiment(experiment_file)
    # checkpoints as train_architecture makes them (train.checkpoint_every), or none
    every = experiment.train.checkpoint_every if checkpoints else None
    return run_search(
        experiment,
        resume=resume,
        trainable=TabularTrainable(str(table), checkpoint_every=every),
        callbacks=[EventLog(work / EVENTS)],
    )


# ---- the chaos loop --------------------------------------------------------------------


def write_experiment(
    work: Path, table: Path, trials: int, k: int, seed: int, checkpoint_every: int
) -> Path:
    import yaml

    with gzip.open(table, "rt") as f:
        meta = json.load(f)
    experiment = {
        "name": RUN_NAME,
        "seed": seed,
        "dataset": {"name": "digits"},  # loaded by run_search; the table replays the results
        "space": meta["recipe"]["space"],
        "searcher": {"name": "dpp", "k": k},
        "objectives": meta["objectives"],
        "devices": {"local-cpu": {"kind": "roofline", "spec": "xeon-e5"}},
        "train": {"epochs": EPOCHS, "checkpoint_every": checkpoint_every},
        "num_samples": trials,
        "max_concurrent": 2,
        "storage_path": str(work / "runs"),
    }
    path = work / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def read_events(work: Path) -> list[dict[str, Any]]:
    """The event log; a line torn by a kill is skipped."""
    return read_lines(work / EVENTS)


def completed_ids(work: Path) -> set[str]:
    return {r["trial_id"] for r in read_events(work) if r["event"] == "complete"}


def archived_ids(run_dir: Path) -> set[str]:
    path = run_dir / "pareto.json"
    if not path.exists():
        return set()
    archive = json.loads(path.read_text())  # written atomically: never half a file
    return {e["trial_id"] for e in archive["entries"] + archive["partial"]}


def start_session(
    work: Path, experiment: Path, table: Path, resume: bool, n: int, checkpoints: bool
):
    log = open(work / f"session-{n}.log", "w")  # noqa: SIM115 - closed by the caller
    command = [sys.executable, __file__, "--drive", str(experiment)]
    command += ["--table", str(table), "--work", str(work)] + (["--resume"] if resume else [])
    command += [] if checkpoints else ["--no-checkpoints"]
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
    )
    return process, log


def kill_session(process: subprocess.Popen) -> None:
    """SIGKILL the driver, then what is left of its process group (Ray's local processes)."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Counts:
    """The chaos run's outcome (trials)."""

    completed: int  # finished in the final run state, each in pareto.json
    lost: int  # completed in some session, missing from the final state or pareto.json
    repeated_archs: int  # completions beyond the first of one architecture
    retrained: int  # trials that replayed epochs (a non-final report) after completing
    recompleted: int  # trials resumed after completing that completed again from their last
    # checkpoint without training
    archived: int  # trials in the final pareto.json
    errored: int  # trials the final run state holds as errored

    @property
    def duplicated(self) -> int:
        return self.repeated_archs + self.retrained


def account(work: Path, seen_in_archive: set[str]) -> Counts:
    """Every completion seen in any session against the final run state and archive."""
    from ray.tune import ExperimentAnalysis

    from dppnas.spaces import arch_key

    run_dir = work / "runs" / RUN_NAME
    trials = ExperimentAnalysis(str(run_dir)).trials
    finished = {
        t.trial_id: arch_key(dict(t.config["arch"]))
        for t in trials
        if t.status == "TERMINATED" and t.last_result
    }
    archived = archived_ids(run_dir)
    events = read_events(work)
    session = {pid: i for i, pid in enumerate(dict.fromkeys(r["pid"] for r in events))}
    first_done: dict[str, int] = {}
    completions: Counter[str] = Counter()
    retrained: set[str] = set()
    arch_of: dict[str, str] = dict(finished)
    for r in events:
        trial, n = r["trial_id"], session[r["pid"]]
        if r["event"] == "complete":
            first_done.setdefault(trial, n)
            completions[trial] += 1
            arch_of[trial] = r["arch"]
        elif trial in first_done and n > first_done[trial] and not r["final"]:
            retrained.add(trial)  # replayed epochs after it had completed
    seen = set(arch_of) | seen_in_archive
    return Counts(
        completed=len(finished),
        lost=len({t for t in seen if t not in finished or t not in archived}),
        repeated_archs=len(arch_of) - len(set(arch_of.values())),
        retrained=len(retrained),
        recompleted=sum(1 for t, c in completions.items() if c > 1 and t not in retrained),
        archived=len(archived),
        errored=sum(t.status == "ERROR" for t in trials),
    )


def chaos(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="dppnas-chaos-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "runs", ignore_errors=True)
    (work / EVENTS).unlink(missing_ok=True)
    if args.table:
        table = Path(args.table).resolve()
    else:
        table = write_synthetic_table(work / "table.json.gz")
    experiment = write_experiment(
        work, table, args.trials, args.k, args.seed, args.checkpoint_every
    )
    checkpoints = not args.no_checkpoints
    run_dir = work / "runs" / RUN_NAME
    print(f"chaos: work folder {work}; {args.kills} kills", flush=True)

    started = time.monotonic()
    resumes = 0
    seen_in_archive: set[str] = set()
    for n in range(args.kills + 1):
        resume = n > 0
        resumes += resume
        before = completed_ids(work)
        process, log = start_session(work, experiment, table, resume, n, checkpoints)
        killed = False
        deadline = time.monotonic() + args.session_timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            if n < args.kills and completed_ids(work) - before:
                # progress made: kill at a random moment from now on
                time.sleep(rng.uniform(0.0, args.max_delay))
                if process.poll() is None:
                    kill_session(process)
                    killed = True
                break
        timed_out = process.poll() is None
        if timed_out:
            kill_session(process)
        log.close()
        seen_in_archive |= archived_ids(run_dir)
        state = "killed" if killed else "timed out" if timed_out else f"exited {process.returncode}"
        print(
            f"chaos: session {n} ({'resume' if resume else 'start'}) {state} at "
            f"{time.monotonic() - started:.0f} s; {len(completed_ids(work))} trials completed",
            flush=True,
        )
        if timed_out or (not killed and process.returncode != 0):
            print(f"chaos: the driver failed; see {log.name}")
            return 1
        if not killed:
            break  # the search finished

    counts = account(work, seen_in_archive)
    print(
        f"chaos: {counts.archived} trials in pareto.json, {counts.errored} errored; "
        f"{counts.repeated_archs} architectures completed by two trials, {counts.retrained} "
        f"trials replayed epochs after completing, {counts.recompleted} resumed after "
        f"completing (re-reported from a checkpoint); {time.monotonic() - started:.0f} s"
    )
    print(
        f"completed={counts.completed} lost={counts.lost} "
        f"duplicated={counts.duplicated} resumes={resumes}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=6, help="driver SIGKILLs (and resumes)")
    parser.add_argument("--trials", type=int, default=90, help="num_samples of the search")
    parser.add_argument("--k", type=int, default=36, help="DPP-Net cells trained per step")
    parser.add_argument("--seed", type=int, default=0, help="seeds the search and the kills")
    parser.add_argument(
        "--max-delay", type=float, default=2.0, help="kill within this many s of progress"
    )
    parser.add_argument("--session-timeout", type=float, default=300.0, help="s per session")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="train.checkpoint_every: trials checkpoint every N epochs and after the last",
    )
    parser.add_argument(
        "--no-checkpoints", action="store_true", help="trials never checkpoint (fastest replay)"
    )
    parser.add_argument("--table", help="a benchmark table .json.gz (default: synthetic)")
    parser.add_argument("--work", help="work folder (default: a new temporary folder)")
    parser.add_argument("--drive", metavar="EXPERIMENT", help=argparse.SUPPRESS)
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        return drive(
            Path(args.drive),
            Path(args.table),
            Path(args.work),
            args.resume,
            not args.no_checkpoints,
        )
    return chaos(args)


if __name__ == "__main__":
    sys.exit(main())
