"""scikit-learn's 8x8 handwritten digits: 1797 grayscale images, values 0..16, 10 classes.

Shipped with scikit-learn, so it needs no download; it has no official test split, so
:func:`dppnas.data.splits.split_indices` draws one with ``test_fraction``.
"""

from __future__ import annotations

import functools

import numpy as np

from dppnas.data.splits import DATASETS, DataOptions, RawArrays

MAX_VALUE = 16  # pixel values are counts of set pixels in 4x4 blocks, 0..16


@functools.lru_cache(maxsize=1)
def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """Images ``(1797, 1, 8, 8)`` uint8 and labels ``(1797,)`` int64, read-only."""
    from sklearn.datasets import load_digits  # sklearn is slow to import; only when used

    bunch = load_digits()
    x = bunch.images.astype(np.uint8)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


@DATASETS.register("digits")
def load_digits_arrays(options: DataOptions) -> RawArrays:
    """The digits as :class:`RawArrays`; ``root`` is not used."""
    x, y = _read_digits()
    return RawArrays(
        x_train=x, y_train=y, x_test=None, y_test=None, num_classes=10, scale=1 / MAX_VALUE
    )
