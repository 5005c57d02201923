"""Output paths checked before any work starts: a run that would fail to write its result
fails at once, with one line, instead of after hours of searching.

A path is writable when it is not a folder (for a file) or not a file (for a folder), every
existing folder above it is a folder, and the nearest existing one lets this user create
entries in it. Nothing is created here.
"""

from __future__ import annotations

import os
from pathlib import Path

from dppnas.errors import DppnasError


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (the current folder for a relative path)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _check_parents(path: Path, flag: str) -> None:
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise DppnasError(
            f"{flag} {path}: {existing} is a file, not a folder; choose a path under a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DppnasError(f"{flag} {path}: cannot create files in {existing} (permission denied)")


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` once it is known that a file can be written there.

    Raises :class:`DppnasError` (naming ``flag``) when ``path`` is a folder, lies below a
    file, or its folder (or the nearest existing folder above it) is not writable.
    """
    path = Path(path).expanduser()
    if str(path) in ("", "."):
        raise DppnasError(f"{flag}: give a file name")
    if path.is_dir():
        raise DppnasError(f"{flag} {path}: is a folder; give a file name (e.g. {path}/out.json)")
    if os.path.lexists(path) and not os.access(path, os.W_OK):
        raise DppnasError(f"{flag} {path}: the file is not writable (permission denied)")
    _check_parents(path, flag)
    return path


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a :class:`Path` once it is known that a folder can be made (or written) there.

    Raises :class:`DppnasError` (naming ``flag``) when ``path`` is a file, lies below a file,
    or cannot be written.
    """
    path = Path(path).expanduser()
    if os.path.lexists(path):
        if not path.is_dir():
            raise DppnasError(f"{flag} {path}: is a file, not a folder; give a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise DppnasError(f"{flag} {path}: the folder is not writable (permission denied)")
        return path
    _check_parents(path, flag)
    return path
