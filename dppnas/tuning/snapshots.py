"""Repairing a run folder's Tune snapshot before ``--resume``: files a stopped driver cut
short, a last snapshot that cannot be read, checkpoints deleted after the snapshot naming them.
Local run folders only (the files are read here)."""

from __future__ import annotations

import collections
import json
import logging
import os
import pickletools
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from dppnas.errors import DppnasError

log = logging.getLogger(__name__)


def prepare_resume(run_dir: Path) -> None:
    """Repair the snapshot of the local run in ``run_dir`` for Tune's restore (a warning per
    file restored); a :class:`DppnasError` when its last snapshot cannot be resumed from."""
    for path in repair_snapshot_files(run_dir):
        log.warning("--resume: %s was cut short by the stop; restored from the driver's copy", path)
    check_last_snapshot(run_dir)
    for folder in fill_deleted_checkpoints(run_dir):
        log.warning("--resume: %s was deleted after the run's last snapshot; restored", folder)


#: the files of one snapshot of a run that Tune restores from (``*-<session stamp>.*``)
SNAPSHOT_FILES = (
    "experiment_state-*.json",
    "search_gen_state-*.json",
    "searcher-state-*.pkl",
    "callback-states-*.pkl",
)


def _whole(path: Path) -> bool:
    """Whether a snapshot file reads back completely: JSON, a pickle (Tune's
    ``search_gen_state-*.json`` is one) or a ``torch.save`` zip (MONAS's searcher state).

    Nothing is unpickled: a pickle is walked opcode by opcode up to its STOP (cut short, it
    has none) and a zip's members are checked against their CRCs, so a file planted by
    someone else runs no code here.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return False
    try:
        json.loads(data)
        return True
    except ValueError:
        pass
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
        except (OSError, zipfile.BadZipFile, EOFError, zlib.error):
            return False
    try:
        last = collections.deque(pickletools.genops(data), maxlen=1)
        return bool(last) and last[0][0].name == "STOP"
    except Exception:  # pickletools raises ValueError and others on a cut-short stream
        return False


def _owned_by_user(path: Path, root: Path) -> bool:
    """Whether ``path`` and every folder between it and ``root`` are this user's own, and
    none is a symbolic link: the shared temp folder may hold what other users planted."""
    try:
        inside = [root / part for part in path.relative_to(root).parents]  # root itself last
        for entry in (path, *inside):
            st = entry.lstat()
            if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid():
                return False
    except (OSError, ValueError):
        return False
    return True


def repair_snapshot_files(run_dir: Path, ray_temp_dirs: Sequence[Path] | None = None) -> list[Path]:
    """Replace snapshot files of the run folder that a stop cut short with the stopped driver's
    own copies, and return the files replaced.

    Tune writes each snapshot whole (temporary file, then rename) into the driver's staging
    folder (``<ray temp>/session_*/artifacts/<stamp>/<run>/driver_artifacts``), then copies
    it into the run folder file by file: a driver killed during that copy leaves a file cut
    short there (its searcher's state, say) while the staged one is whole; a SIGKILL leaves
    the staging folder on disk. Local runs on the machine of the stopped driver only; a file
    without a whole staged copy is left as it is (:func:`check_last_snapshot` reports it).
    """
    if ray_temp_dirs is None:
        roots = {Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"}
        ray_temp_dirs = sorted(roots | {Path("/tmp/ray")})
    repaired: list[Path] = []
    for pattern in SNAPSHOT_FILES:
        for path in sorted(run_dir.glob(pattern)):
            if _whole(path):
                continue
            staged = [
                c
                for root in ray_temp_dirs
                for c in root.glob(
                    f"session_*/artifacts/*/{run_dir.name}/driver_artifacts/{path.name}"
                )
                if _owned_by_user(c, root) and _whole(c)
            ]
            if staged:  # the same file name is the same session's: the newest copy is its last
                tmp = path.with_name(f".{path.name}.repair")
                shutil.copyfile(max(staged, key=lambda c: c.stat().st_mtime), tmp)
                os.replace(tmp, path)
                repaired.append(path)
    return repaired


def check_last_snapshot(run_dir: Path) -> None:
    """Refuse to resume from a snapshot of the run that was cut short.

    Tune copies its snapshot into the run folder file by file; a driver killed in the middle
    of the copy leaves an incomplete file (the experiment state, from which Tune would
    silently start the whole experiment over, or the searcher's state, which it would drop).
    :func:`repair_snapshot_files` restores what it can first; the snapshot before is intact.
    """
    for pattern in SNAPSHOT_FILES:
        files = sorted(run_dir.glob(pattern))  # Tune restores the last one
        if not files or _whole(files[-1]):
            continue
        prefix, suffix = pattern.split("*")
        stamp = files[-1].name.removeprefix(prefix).removesuffix(suffix)
        raise DppnasError(
            f"--resume: {files[-1]} is incomplete (the driver stopped while Tune saved it); "
            f"move that session's files (*-{stamp}.json, *-{stamp}.pkl) out of {run_dir} to "
            f"resume from the snapshot before it"
        )


def fill_deleted_checkpoints(run_dir: Path) -> list[Path]:
    """Give each unfinished trial of the run's last snapshot the checkpoint that snapshot names.

    Tune (``CheckpointConfig(num_to_keep=1)``) deletes a trial's previous checkpoint as soon as
    it registers a newer one, and the snapshot of the experiment naming the newer one reaches
    the run folder a moment later: a driver killed in between leaves a snapshot naming a
    deleted checkpoint, and the resumed trial fails ("does not exist on storage anymore").
    Each such checkpoint is restored as a copy of the trial's newest checkpoint (a later state
    of the same trial, which continues from there). The snapshot names a trial's checkpoint in
    its last result (``checkpoint_dir_name``); local run folders only. Returns the folders
    made; never raises (the resume then goes on as Tune would).
    """
    made: list[Path] = []
    try:
        states = sorted(run_dir.glob("experiment_state-*.json"))  # Tune restores the last
        if not states:
            return made
        for trial_state, run_metadata in json.loads(states[-1].read_text())["trial_data"]:
            trial = json.loads(trial_state) if isinstance(trial_state, str) else trial_state
            meta = json.loads(run_metadata) if isinstance(run_metadata, str) else run_metadata
            name = (meta.get("last_result") or {}).get("checkpoint_dir_name")
            if trial.get("status") == "TERMINATED" or not name:
                continue
            for trial_dir in run_dir.glob(f"*{trial['trial_id']}*"):
                newest = max(trial_dir.glob("checkpoint_*"), default=None)
                missing = trial_dir / name
                if newest is not None and not missing.exists() and newest.name > name:
                    shutil.copytree(newest, missing)
                    made.append(missing)
    except Exception:  # Tune's file layout changed, or a folder is unreadable
        log.warning("--resume: could not check the trials' checkpoints", exc_info=True)
    return made
