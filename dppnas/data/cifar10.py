"""CIFAR-10 from the standard ``cifar-10-batches-py`` folder: 32x32 RGB, 10 classes.

``data_batch_1`` .. ``data_batch_5`` (50k images) are the training pool and ``test_batch``
(10k) the official test split. Each file is a pickled dict with ``b"data"`` (uint8,
``N x 3072``, channel-major) and ``b"labels"``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

from dppnas.data.splits import DATASETS, DataOptions, RawArrays, candidate_folders
from dppnas.errors import DppnasError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # of the archive, as published with it
IMAGE_SHAPE = (3, 32, 32)

log = logging.getLogger(__name__)


def search_folders(root: str | None) -> list[Path]:
    """Candidate ``cifar-10-batches-py`` folders, in order; ``root`` may be it or its parent."""
    return candidate_folders(root, FOLDER, [Path("data") / FOLDER])


def _is_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*TRAIN_FILES, TEST_FILE))


def find_folder(root: str | None, download: bool) -> Path:
    """The first complete folder; downloads when allowed and none is found."""
    folders = search_folders(root)
    for folder in folders:
        if _is_complete(folder):
            return folder.resolve()
    if download:
        return download_cifar10(_download_parent(root))
    searched = ", ".join(str(folder) for folder in folders)
    raise DppnasError(
        f"cifar10: files not found in {searched}; set dataset.download: true to fetch {URL}, "
        f"or place the extracted {FOLDER} folder there (or set dataset.root to it)"
    )


def _download_parent(root: str | None) -> Path:
    """The folder that receives ``cifar-10-batches-py`` when downloading."""
    if root is not None:
        base = Path(root).expanduser()
        return base.parent if base.name == FOLDER else base
    if os.environ.get("DPPNAS_DATA"):
        return Path(os.environ["DPPNAS_DATA"]).expanduser()
    return Path.home() / ".cache" / "dppnas"


def download_cifar10(parent: Path) -> Path:
    """Fetch and extract the archive into ``parent``; the path of the extracted folder."""
    parent.mkdir(parents=True, exist_ok=True)
    log.warning("downloading CIFAR-10 (163 MB) from %s into %s", URL, parent)
    try:
        with urllib.request.urlopen(URL, timeout=60) as response:
            archive = response.read()
    except OSError as err:
        raise DppnasError(f"cifar10: download from {URL} failed: {err}") from None
    digest = hashlib.md5(archive).hexdigest()
    if digest != MD5:
        raise DppnasError(f"cifar10: downloaded archive has md5 {digest}, expected {MD5}")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"{FOLDER}/") and m.isfile()]
        # The data filter refuses absolute paths and links out of the folder where available.
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(parent, members=members, **kwargs)
    folder = parent / FOLDER
    if not _is_complete(folder):
        raise DppnasError(f"cifar10: the downloaded archive lacks files of {folder}")
    return folder.resolve()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only plain containers and numpy arrays: the batch files need nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles from Python 3 spell bytes
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64."""
    try:
        with path.open("rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = batch.get(b"data", batch.get("data"))
        labels = batch.get(b"labels", batch.get("labels"))
        x = np.asarray(data, dtype=np.uint8).reshape(-1, *IMAGE_SHAPE)
        y = np.asarray(labels, dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as err:
        raise DppnasError(f"cifar10: {path} is not a CIFAR-10 python batch file ({err})") from None
    if len(x) != len(y):
        raise DppnasError(f"cifar10: {path} has {len(x)} images but {len(y)} labels")
    return x, y


@functools.lru_cache(maxsize=2)
def _read_folder(folder: Path) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_test, y_test)`` of a resolved folder, read-only and cached."""
    train = [read_batch(folder / name) for name in TRAIN_FILES]
    x_test, y_test = read_batch(folder / TEST_FILE)
    arrays = (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        x_test,
        y_test,
    )
    for array in arrays:
        array.flags.writeable = False  # shared by every caller through the cache
    return arrays


@DATASETS.register("cifar10")
def load_cifar10(options: DataOptions) -> RawArrays:
    """CIFAR-10 as :class:`RawArrays`: ``(50000, 3, 32, 32)`` train, ``(10000, ...)`` test."""
    x_train, y_train, x_test, y_test = _read_folder(find_folder(options.root, options.download))
    return RawArrays(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        scale=1 / 255,
        default_augment="crop_flip",
    )
