"""Dataset options, the loader registry and the seeded train/validation/test split.

A loader (registered in :data:`DATASETS`) turns :class:`DataOptions` into :class:`RawArrays`:
whole images as numpy arrays, shape ``(N, C, H, W)``, unscaled. :func:`load_dataset` splits
them deterministically, scales them to ``[0, 1]``, normalises every split per channel with the
training split's mean/std and returns float32 tensors in :class:`DatasetSplits`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationInfo, field_validator

from dppnas.errors import DppnasError, validate_section
from dppnas.registry import Registry

AugmentName = Literal["none", "crop_flip"]


class DataOptions(BaseModel):
    """The ``dataset`` section of an experiment."""

    model_config = ConfigDict(extra="forbid")

    name: str
    root: str | None = None
    # validate_default so that a missing path for npz is reported as ``dataset.path``.
    path: str | None = Field(default=None, validate_default=True)
    download: bool = False
    train_subset: PositiveInt | None = None
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    test_fraction: float = Field(default=0.2, gt=0, lt=1)
    augment: Literal["auto", "none", "crop_flip"] = "auto"
    seed: int = 0

    @field_validator("path")
    @classmethod
    def _path_only_for_npz(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("name")
        if name == "npz" and not value:
            raise ValueError("required for the npz dataset")
        if name != "npz" and value is not None:
            raise ValueError(f"only used by the npz dataset, not {name!r}")
        return value

    @field_validator("download")
    @classmethod
    def _download_only_cifar10(cls, value: bool, info: ValidationInfo) -> bool:
        name = info.data.get("name")
        if value and name != "cifar10":
            raise ValueError(f"only the cifar10 dataset can be downloaded, not {name!r}")
        return value


@dataclass(frozen=True)
class RawArrays:
    """A dataset as a loader returns it, before splitting and scaling.

    ``x_*`` are ``(N, C, H, W)`` arrays (uint8 or float); ``y_*`` are int64 ``(N,)``.
    ``x_test``/``y_test`` are ``None`` when the dataset has no official test split.
    Multiplying by ``scale`` maps pixel values to ``[0, 1]``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    num_classes: int
    scale: float = 1.0
    default_augment: AugmentName = "none"


Loader = Callable[[DataOptions], RawArrays]

DATASETS: Registry[Loader] = Registry("dataset")


@dataclass
class DatasetSplits:
    """Normalised train/validation/test tensors of one dataset.

    ``x_*`` are float32 ``(N, C, H, W)``, normalised per channel with the training split's
    mean/std; ``y_*`` are int64 class indices ``(N,)``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    augment: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = (int(s) for s in self.x_train.shape[1:])
        return c, h, w

    def _tensor_fields(self) -> dict[str, torch.Tensor]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }

    def to(self, device: torch.device | str) -> DatasetSplits:
        """A copy with every tensor on ``device``; ``self`` when they are all there already."""
        tensors = self._tensor_fields()
        # Tensor.to returns the very same tensor when no move is needed, which also copes
        # with "cuda" vs "cuda:0" spellings of one device.
        moved = {key: t.to(device) for key, t in tensors.items()}
        if all(moved[key] is tensors[key] for key in tensors):
            return self
        return dataclasses.replace(self, **moved)

    def describe(self) -> str:
        """One line: name, split sizes, input shape, number of classes."""
        c, h, w = self.input_shape
        return (
            f"{self.name}: train {len(self.y_train)}, val {len(self.y_val)}, "
            f"test {len(self.y_test)}; input {c}x{h}x{w}; {self.num_classes} classes; "
            f"augment {self.augment}"
        )


def load_dataset(options: DataOptions | Mapping[str, Any]) -> DatasetSplits:
    """Load, split and normalise the dataset described by ``options`` (the ``dataset`` section)."""
    if not isinstance(options, DataOptions):
        if isinstance(options, Mapping):
            options = dict(options)
        options = validate_section(DataOptions, options, "dataset")
    loader = DATASETS.get(options.name, where="dataset.name")
    raw = loader(options)
    return split_raw(options, raw)


def _split_sizes(n: int, fraction: float, what: str, name: str) -> tuple[int, int]:
    """``(held_out, rest)`` sizes for holding out ``fraction`` of ``n``; both at least one."""
    held_out = max(1, int(round(fraction * n)))
    if held_out >= n:
        raise DppnasError(
            f"{name}: {n} images are too few to hold out a {what} share of {fraction}"
        )
    return held_out, n - held_out


def split_indices(
    options: DataOptions, n_train_pool: int, n_official_test: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Seeded ``(train, val, test)`` indices; ``test`` is ``None`` with an official test split.

    Indices of ``train``/``val`` (and ``test`` when drawn) index the training pool. The draws
    happen in a fixed order (test, validation, subset) from one generator, so the validation
    split does not depend on ``train_subset``.
    """
    # default_rng rejects negative seeds; wrap them into distinct non-negative ones.
    rng = np.random.default_rng(options.seed % 2**64)
    pool = np.arange(n_train_pool)
    test = None
    if n_official_test is None:
        n_test, _ = _split_sizes(n_train_pool, options.test_fraction, "test", options.name)
        order = rng.permutation(n_train_pool)
        test, pool = order[:n_test], order[n_test:]
    n_val, n_train = _split_sizes(len(pool), options.val_fraction, "validation", options.name)
    order = rng.permutation(len(pool))
    val, train = pool[order[:n_val]], pool[order[n_val:]]
    if options.train_subset is not None:
        if options.train_subset > n_train:
            raise DppnasError(
                f"dataset.train_subset: {options.train_subset} exceeds the training pool of "
                f"{n_train} {options.name} images (left after holding out validation)"
            )
        train = train[rng.permutation(n_train)[: options.train_subset]]
    return train, val, test


def _to_tensor(x: np.ndarray, index: np.ndarray | None, scale: float) -> torch.Tensor:
    """Float32 tensor of ``x[index]`` scaled to ``[0, 1]``, in memory of its own."""
    picked = x if index is None else x[index]
    # np.multiply writes a new float32 array in one pass (faster than torch's uint8 cast), so a
    # read-only cached raw array is never touched by the in-place normalisation.
    return torch.from_numpy(np.multiply(picked, np.float32(scale), dtype=np.float32))


def _labels(y: np.ndarray, index: np.ndarray | None) -> torch.Tensor:
    picked = np.array(y, dtype=np.int64) if index is None else y[index].astype(np.int64)
    return torch.from_numpy(picked)


def split_raw(options: DataOptions, raw: RawArrays) -> DatasetSplits:
    """Split, scale and normalise ``raw`` as ``options`` say."""
    official_test = None if raw.x_test is None else len(raw.x_test)
    train, val, test = split_indices(options, len(raw.x_train), official_test)
    x_train = _to_tensor(raw.x_train, train, raw.scale)
    x_val = _to_tensor(raw.x_train, val, raw.scale)
    if test is None:
        assert raw.x_test is not None and raw.y_test is not None
        x_test, y_test = _to_tensor(raw.x_test, None, raw.scale), _labels(raw.y_test, None)
    else:
        x_test, y_test = _to_tensor(raw.x_train, test, raw.scale), _labels(raw.y_train, test)
    mean, std = channel_stats(x_train)
    for x in (x_train, x_val, x_test):
        x.sub_(mean).div_(std)
    augment = raw.default_augment if options.augment == "auto" else options.augment
    return DatasetSplits(
        name=options.name,
        x_train=x_train,
        y_train=_labels(raw.y_train, train),
        x_val=x_val,
        y_val=_labels(raw.y_train, val),
        x_test=x_test,
        y_test=y_test,
        num_classes=raw.num_classes,
        augment=augment,
    )


def channel_stats(x: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``x`` ``(N, C, H, W)``, shaped ``(1, C, 1, 1)`` to broadcast.

    Sums run over ``chunk`` images at a time into float64 accumulators: exact enough for 50k
    images, and several times faster than ``torch.var_mean`` or a float64 copy of the whole
    tensor. A constant channel gets std 1 instead of dividing by zero.
    """
    dims = (0, 2, 3)
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros(x.shape[1], dtype=torch.float64)
    for part in torch.split(x, chunk):
        total += part.sum(dim=dims, dtype=torch.float64)
        total_sq += (part * part).sum(dim=dims, dtype=torch.float64)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return (
        mean.to(torch.float32).view(1, -1, 1, 1),
        std.to(torch.float32).view(1, -1, 1, 1),
    )


def candidate_folders(root: str | None, folder: str, fallbacks: Sequence[Path] = ()) -> list[Path]:
    """Folders searched for a dataset's files, in order.

    ``root`` (the experiment's ``dataset.root``) may be the folder itself or its parent;
    without it: ``$DPPNAS_DATA/folder``, ``~/.cache/dppnas/folder``, then ``fallbacks``.
    """
    if root is not None:
        base = Path(root).expanduser()
        return [base, base / folder]
    folders = []
    if os.environ.get("DPPNAS_DATA"):
        folders.append(Path(os.environ["DPPNAS_DATA"]).expanduser() / folder)
    return [*folders, Path.home() / ".cache" / "dppnas" / folder, *fallbacks]
