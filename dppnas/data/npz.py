"""User arrays from one ``.npz`` file: ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``.

Images may be ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)``; uint8 is scaled by 1/255,
floats are taken as they are (normalisation follows anyway).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from dppnas.data.splits import DATASETS, DataOptions, RawArrays
from dppnas.errors import ConfigError, DppnasError, short_text


def resolve_path(options: DataOptions) -> Path:
    """``dataset.path``, taken relative to ``dataset.root`` when that is set."""
    if not options.path:
        raise ConfigError("dataset.path: required for the npz dataset")
    path = Path(options.path).expanduser()
    if options.root is not None and not path.is_absolute():
        path = Path(options.root).expanduser() / path
    return path


def to_nchw(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """Images as ``(N, C, H, W)``; a 4-D array's channel axis is the smaller of axes 1 and 3."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        return np.moveaxis(x, 3, 1) if x.shape[3] < x.shape[1] else x
    raise DppnasError(
        f"npz: {path}: {key} has shape {x.shape}; expected (N, H, W), (N, C, H, W) or (N, H, W, C)"
    )


def _labels(y: np.ndarray, key: str, n: int, path: Path) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DppnasError(f"npz: {path}: {key} has shape {y.shape}; expected ({n},)")
    if not np.issubdtype(y.dtype, np.integer):
        raise DppnasError(f"npz: {path}: {key} must hold integer class indices, not {y.dtype}")
    if n and y.min() < 0:
        raise DppnasError(f"npz: {path}: {key} has negative class indices")
    return y.astype(np.int64)


NPY_MAGIC = b"\x93NUMPY"


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file at ``path``; one clear error for anything else (a
    ``.npy`` file, another file type, a damaged archive, arrays of Python objects)."""
    with path.open("rb") as f:
        head = f.read(len(NPY_MAGIC))
    if head == NPY_MAGIC:
        raise DppnasError(
            f"npz: {path} is a single .npy array, not an .npz archive; save the arrays with "
            f"np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
        )
    if not zipfile.is_zipfile(path):
        raise DppnasError(
            f"npz: {path} is not an .npz archive (np.savez writes one: x_train, y_train and "
            f"optionally x_test, y_test)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as err:
        if "pickle" in str(err):  # numpy's advice to load it unsafely is not ours to give
            raise DppnasError(
                f"npz: {path} holds arrays of Python objects; dppnas reads numeric arrays only "
                f"(save images and labels as numbers)"
            ) from None
        raise DppnasError(f"npz: {path} is damaged ({short_text(str(err), 100)})") from None
    except (OSError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error) as err:
        raise DppnasError(f"npz: {path} is damaged ({short_text(str(err), 100)})") from None


@DATASETS.register("npz")
def load_npz(options: DataOptions) -> RawArrays:
    """The arrays of ``dataset.path`` as :class:`RawArrays`."""
    path = resolve_path(options)
    if not path.is_file():
        raise DppnasError(f"npz: file not found: {path}")
    arrays = read_arrays(path)
    missing = [key for key in ("x_train", "y_train") if key not in arrays]
    has_test = [key in arrays for key in ("x_test", "y_test")]
    if missing or any(has_test) != all(has_test):
        raise DppnasError(
            f"npz: {path} has keys {', '.join(sorted(arrays)) or 'none'}; expected x_train, "
            "y_train and optionally both x_test and y_test"
        )
    x_train = to_nchw(arrays["x_train"], "x_train", path)
    y_train = _labels(arrays["y_train"], "y_train", len(x_train), path)
    x_test = y_test = None
    if all(has_test):
        x_test = to_nchw(arrays["x_test"], "x_test", path)
        y_test = _labels(arrays["y_test"], "y_test", len(x_test), path)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DppnasError(
                f"npz: {path}: x_test images are {x_test.shape[1:]}, x_train's {x_train.shape[1:]}"
            )
        if x_test.dtype != x_train.dtype:
            x_test = x_test.astype(np.result_type(x_train, x_test))
            x_train = x_train.astype(x_test.dtype)
    kind = x_train.dtype
    if not (np.issubdtype(kind, np.integer) or np.issubdtype(kind, np.floating)):
        raise DppnasError(f"npz: {path}: images must be integers or floats, not {kind}")
    if len(x_train) == 0:
        raise DppnasError(f"npz: {path}: x_train holds no images")
    for key, x in (("x_train", x_train), ("x_test", x_test)):
        if x is not None and np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise DppnasError(f"npz: {path}: {key} holds NaN or infinite values")
    labels = y_train if y_test is None else np.concatenate([y_train, y_test])
    return RawArrays(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=int(labels.max()) + 1 if len(labels) else 0,
        scale=1 / 255 if kind == np.uint8 else 1.0,
    )
