"""Fashion-MNIST from its four IDX files (gzipped or not): 28x28 grayscale, 10 classes.

The official 10k ``t10k`` images are the test split; validation is held out of the 60k
training images.
"""

from __future__ import annotations

import functools
import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from dppnas.data.splits import DATASETS, DataOptions, RawArrays, candidate_folders
from dppnas.errors import DppnasError

FOLDER = "fashion-mnist"
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
IDX_UBYTE = 0x08  # IDX type code of unsigned bytes


def search_folders(root: str | None) -> list[Path]:
    """Folders searched for the files, in order."""
    return candidate_folders(root, FOLDER, [DEBIAN_FOLDER])


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_files(root: str | None) -> dict[str, Path]:
    """The four IDX files from the first folder that has all of them; one clear error otherwise."""
    folders = search_folders(root)
    for folder in folders:
        found = {key: _find_file(folder, stem) for key, stem in FILES.items()}
        if all(path is not None for path in found.values()):
            return {key: path.resolve() for key, path in found.items() if path is not None}
    searched = ", ".join(str(folder) for folder in folders)
    names = ", ".join(f"{stem}.gz" for stem in FILES.values())
    raise DppnasError(
        f"fashion-mnist: files not found in {searched}; install Debian's dataset-fashion-mnist "
        f"(apt-get install dataset-fashion-mnist) or set dataset.root to a folder with {names}"
    )


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped) of unsigned bytes as a read-only uint8 array."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # not gzip, truncated, corrupt
            raise DppnasError(
                f"fashion-mnist: {path} is damaged ({err or 'cut short'}); download it again"
            ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DppnasError(f"fashion-mnist: {path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DppnasError(f"fashion-mnist: {path} is truncated (inside its header)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != math.prod(shape):
        raise DppnasError(f"fashion-mnist: {path} is truncated (header says shape {shape})")
    return data.reshape(shape)  # frombuffer on bytes is read-only, so the cache stays intact


@functools.lru_cache(maxsize=4)
def _read_all(paths: tuple[Path, Path, Path, Path]) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)``; cached per set of resolved paths."""
    x_train, y_train, x_test, y_test = (read_idx(path) for path in paths)
    for array, path, ndim in zip(
        (x_train, y_train, x_test, y_test), paths, (3, 1, 3, 1), strict=True
    ):
        if array.ndim != ndim:
            what = "images (N, H, W)" if ndim == 3 else "labels (N,)"
            raise DppnasError(f"fashion-mnist: {path} holds shape {array.shape}, not {what}")
    labels = []
    for y in (y_train, y_test):
        y = y.astype(np.int64)
        y.flags.writeable = False  # shared by every caller through the cache
        labels.append(y)
    return x_train[:, None], labels[0], x_test[:, None], labels[1]


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(options: DataOptions) -> RawArrays:
    """Fashion-MNIST as :class:`RawArrays`: ``(60000, 1, 28, 28)`` train, ``(10000, ...)`` test."""
    files = find_files(options.root)
    x_train, y_train, x_test, y_test = _read_all(tuple(files[key] for key in FILES))
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        folder = files["x_train"].parent
        raise DppnasError(f"fashion-mnist: images and labels differ in count in {folder}")
    return RawArrays(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        scale=1 / 255,
    )
