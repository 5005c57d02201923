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
        log.warning(
            "--resume: %s was cut short or left behind by the stop; restored from the "
            "driver's copy",
            path,
        )
    check_last_snapshot(run_dir)
    for folder in fill_deleted_checkpoints(run_dir):
        log.warning("--resume: %s was deleted after the run's last snapshot; restored", folder)


#: the files of one snapshot of a run that Tune restores from (``*-<session stamp>.*``), in
#: the order Tune writes them into the driver's staging folder: ``TuneController.save_to_dir``
#: writes the experiment state, ``SearchGenerator.save_to_dir`` the searcher's state and then
#: its own, ``CallbackList.save_to_dir`` the callbacks' state last
SNAPSHOT_FILES = (
    "experiment_state-*.json",
    "searcher-state-*.pkl",
    "search_gen_state-*.json",
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


def _staging_folders(run_dir: Path, ray_temp_dirs: Sequence[Path]) -> list[Path]:
    """The stopped drivers' staging folders of runs named like ``run_dir``'s that are this
    user's own (``<ray temp>/session_*/artifacts/<stamp>/<run>/driver_artifacts``)."""
    return [
        folder
        for root in ray_temp_dirs
        for folder in root.glob(f"session_*/artifacts/*/{run_dir.name}/driver_artifacts")
        if _owned_by_user(folder, root)
    ]


def _stamp(path: Path) -> str:
    """The session stamp of a snapshot file (``experiment_state-<stamp>.json``)."""
    for pattern in SNAPSHOT_FILES:
        prefix, suffix = pattern.split("*")
        if path.name.startswith(prefix) and path.name.endswith(suffix):
            return path.name.removeprefix(prefix).removesuffix(suffix)
    raise ValueError(path)


def _trial_ids(path: Path) -> set[str] | None:
    """The trial ids of an experiment state file (None when it cannot be read)."""
    try:
        trial_data = json.loads(path.read_bytes())["trial_data"]
        ids = set()
        for trial_state, _ in trial_data:
            trial = json.loads(trial_state) if isinstance(trial_state, str) else trial_state
            ids.add(trial["trial_id"])
        return ids
    except Exception:  # not Tune's layout: no claim either way
        return None


def _one_save(folder: Path, run_dir: Path, stamp: str) -> list[Path] | None:
    """The staged files of session ``stamp`` in ``folder`` when they are all of one save,
    in write order; None when they are not (or when they are not this run's).

    Tune overwrites the staged files one by one at each snapshot, in the order of
    :data:`SNAPSHOT_FILES`: a driver stopped in the middle of a snapshot leaves the newer
    experiment state beside the older searcher state. Whole files whose modification times
    follow the write order are one snapshot's. The run folder's experiment state, when whole,
    must name no trial the staged one lacks (a later snapshot of the same run).
    """
    files = []
    for pattern in SNAPSHOT_FILES:
        path = folder / pattern.replace("*", stamp)
        if path.exists() or path.is_symlink():
            files.append(path)
    if not files or not files[0].name.startswith("experiment_state-"):
        return None
    if not all(_owned_by_user(path, folder) and _whole(path) for path in files):
        return None
    times = [path.lstat().st_mtime_ns for path in files]
    if times != sorted(times):
        return None
    ours = run_dir / files[0].name
    if _whole(ours):
        ours_ids, staged_ids = _trial_ids(ours), _trial_ids(files[0])
        if ours_ids is not None and (staged_ids is None or not ours_ids <= staged_ids):
            return None
    return files


def repair_snapshot_files(run_dir: Path, ray_temp_dirs: Sequence[Path] | None = None) -> list[Path]:
    """Give the run folder the stopped driver's last snapshot, whole and of one piece, and
    return the files replaced.

    Tune writes each snapshot into the driver's staging folder
    (``<ray temp>/session_*/artifacts/<stamp>/<run>/driver_artifacts``), then copies that
    folder into the run folder in the background, its files in parallel: a driver killed
    during the copy leaves a file cut short there, or a mix of two snapshots (the newer
    experiment state beside the older searcher state: the searcher then never hears of
    trials that finished in between and does not know trials Tune created, which it
    suggests again). A SIGKILL leaves the staging folder on disk. When the staged files of
    the run's last session are one snapshot's, they replace the run folder's; otherwise
    each file cut short is replaced by a whole staged copy of the same name, if there is
    one. Local runs on the machine of the stopped driver only; a file left cut short is
    reported by :func:`check_last_snapshot`.
    """
    if ray_temp_dirs is None:
        roots = {Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"}
        ray_temp_dirs = sorted(roots | {Path("/tmp/ray")})
    folders = _staging_folders(run_dir, ray_temp_dirs)
    repaired: list[Path] = []

    def replace(path: Path, staged: Path) -> None:
        tmp = path.with_name(f".{path.name}.repair")
        shutil.copyfile(staged, tmp)
        os.replace(tmp, path)
        repaired.append(path)

    ours = [path for pattern in SNAPSHOT_FILES for path in run_dir.glob(pattern)]
    if ours:
        stamp = max(_stamp(path) for path in ours)  # the session Tune restores from
        snapshots = [s for f in folders if (s := _one_save(f, run_dir, stamp)) is not None]
        if snapshots:  # the same session's: the newest is its last
            for staged in max(snapshots, key=lambda s: s[0].lstat().st_mtime_ns):
                path = run_dir / staged.name
                if not path.exists() or path.read_bytes() != staged.read_bytes():
                    replace(path, staged)
    for pattern in SNAPSHOT_FILES:
        for path in sorted(run_dir.glob(pattern)):
            if _whole(path):
                continue
            staged = [
                c
                for folder in folders
                if _owned_by_user(c := folder / path.name, folder) and _whole(c)
            ]
            if staged:  # the same file name is the same session's: the newest copy is its last
                replace(path, max(staged, key=lambda c: c.stat().st_mtime))
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
