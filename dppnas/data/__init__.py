"""Datasets as normalised tensors with seeded splits, and on-device minibatches.

Importing this package registers the datasets: ``digits``, ``fashion-mnist``, ``cifar10``
and ``npz``.
"""

from dppnas.data import cifar10, digits, fashion_mnist, npz  # noqa: F401  (registration)
from dppnas.data.batches import iterate_batches, random_crop_flip
from dppnas.data.splits import DATASETS, DataOptions, DatasetSplits, RawArrays, load_dataset

__all__ = [
    "DATASETS",
    "DataOptions",
    "DatasetSplits",
    "RawArrays",
    "iterate_batches",
    "load_dataset",
    "random_crop_flip",
]
