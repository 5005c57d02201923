"""Tests of dppnas.data: loaders, seeded splits, normalisation and on-device batches."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dppnas.data import (
    DATASETS,
    DataOptions,
    DatasetSplits,
    iterate_batches,
    load_dataset,
    random_crop_flip,
)
from dppnas.data import cifar10 as cifar10_module
from dppnas.data import fashion_mnist as fashion_module
from dppnas.data.splits import split_indices
from dppnas.errors import ConfigError, DppnasError

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def assert_same_splits(a: DatasetSplits, b: DatasetSplits) -> None:
    for key in SPLITS:
        assert torch.equal(getattr(a, key), getattr(b, key)), key


def write_npz(path: Path, n_train: int, n_test: int | None = None, shape=(6, 5, 3)) -> Path:
    """An npz whose labels are the example ids, so splits can be traced back."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "y_train": np.arange(n_train),
    }
    if n_test is not None:
        arrays["x_test"] = rng.integers(0, 256, (n_test, *shape), dtype=np.uint8)
        arrays["y_test"] = np.arange(n_test)
    np.savez(path, **arrays)
    return path


# --- digits --------------------------------------------------------------------------------


def test_digits_shapes_classes_and_normalisation() -> None:
    splits = load_dataset({"name": "digits"})
    assert splits.input_shape == (1, 8, 8)
    assert splits.num_classes == 10
    assert splits.augment == "none"
    sizes = (len(splits.y_train), len(splits.y_val), len(splits.y_test))
    assert sum(sizes) == 1797
    assert sizes[2] == round(0.2 * 1797)
    assert sizes[1] == round(0.1 * (1797 - sizes[2]))
    for x, y in ((splits.x_train, splits.y_train), (splits.x_val, splits.y_val)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(y), 1, 8, 8)
    assert set(splits.y_train.tolist()) == set(range(10))
    mean = splits.x_train.mean(dim=(0, 2, 3))
    std = splits.x_train.std(dim=(0, 2, 3), correction=0)
    assert torch.allclose(mean, torch.zeros(1), atol=1e-4)
    assert torch.allclose(std, torch.ones(1), atol=1e-4)
    line = splits.describe()
    assert "\n" not in line and "digits" in line and "1x8x8" in line and "10 classes" in line


def test_digits_split_deterministic_and_seeded() -> None:
    options = DataOptions(name="digits", seed=3)
    first, again = load_dataset(options), load_dataset({"name": "digits", "seed": 3})
    assert_same_splits(first, again)
    other = load_dataset({"name": "digits", "seed": 4})
    assert not torch.equal(first.x_val, other.x_val)


def test_split_indices_disjoint_and_complete() -> None:
    options = DataOptions(name="digits", seed=1)
    train, val, test = split_indices(options, 1797, None)
    assert test is not None
    ids = np.concatenate([train, val, test])
    assert len(ids) == 1797 and len(np.unique(ids)) == 1797


def test_train_subset_draws_from_the_pool_and_keeps_validation(tmp_path: Path) -> None:
    path = str(write_npz(tmp_path / "ids.npz", 200, 20))
    full = load_dataset({"name": "npz", "path": path, "seed": 5})
    sub = load_dataset({"name": "npz", "path": path, "seed": 5, "train_subset": 50})
    assert len(sub.y_train) == 50
    assert set(sub.y_train.tolist()) <= set(full.y_train.tolist())
    assert torch.equal(sub.y_val, full.y_val)  # validation does not depend on the subset
    again = load_dataset({"name": "npz", "path": path, "seed": 5, "train_subset": 50})
    assert_same_splits(sub, again)
    # the subset's own statistics normalise it
    assert sub.x_train.mean().abs() < 1e-4


def test_train_subset_larger_than_pool() -> None:
    with pytest.raises(DppnasError, match="training pool of 1294"):
        load_dataset({"name": "digits", "train_subset": 5000})


def test_splits_disjoint_and_cover_the_pool(tmp_path: Path) -> None:
    path = str(write_npz(tmp_path / "ids.npz", 300))
    splits = load_dataset({"name": "npz", "path": path, "seed": 2, "test_fraction": 0.25})
    ids = [set(s.tolist()) for s in (splits.y_train, splits.y_val, splits.y_test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set().union(*ids) == set(range(300))
    assert len(ids[2]) == 75 and len(ids[1]) == round(0.1 * 225)


# --- fashion-mnist -------------------------------------------------------------------------


def test_fashion_mnist_loads() -> None:
    try:
        fashion_module.find_files(None)
    except DppnasError as err:
        pytest.skip(f"Fashion-MNIST files absent ({err})")
    splits = load_dataset({"name": "fashion-mnist"})
    assert splits.input_shape == (1, 28, 28)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (54000, 6000, 10000)
    assert splits.num_classes == 10 and splits.augment == "none"
    assert abs(float(splits.x_train.mean())) < 1e-3
    assert abs(float(splits.x_train.std()) - 1) < 1e-3


def test_fashion_mnist_reads_plain_idx_files(tmp_path: Path) -> None:
    """Un-gzipped IDX files in a folder given as root."""

    def idx(path: Path, array: np.ndarray) -> None:
        header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
        path.write_bytes(header + array.astype(np.uint8).tobytes())

    rng = np.random.default_rng(0)
    idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (40, 28, 28)))
    idx(tmp_path / "train-labels-idx1-ubyte", np.arange(40) % 10)
    idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (7, 28, 28)))
    idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(7) % 10)
    splits = load_dataset({"name": "fashion-mnist", "root": str(tmp_path)})
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (36, 4, 7)
    assert splits.y_test.tolist() == list(range(7))


def test_fashion_mnist_missing_names_every_path(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DppnasError) as info:
        load_dataset({"name": "fashion-mnist", "root": str(root)})
    message = str(info.value)
    assert "\n" not in message
    assert str(root) in message and str(root / "fashion-mnist") in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "train-images-idx3-ubyte.gz" in message


def test_fashion_mnist_default_search_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DPPNAS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_module, "DEBIAN_FOLDER", tmp_path / "debian")
    with pytest.raises(DppnasError) as info:
        load_dataset({"name": "fashion-mnist"})
    message = str(info.value)
    for folder in ("env/fashion-mnist", "home/.cache/dppnas/fashion-mnist", "debian"):
        assert str(tmp_path / folder) in message


# --- cifar10 -------------------------------------------------------------------------------


def write_cifar(parent: Path, per_batch: int = 4, n_test: int = 3) -> Path:
    """A tiny ``cifar-10-batches-py`` folder in the real pickle format."""
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        }
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


def test_cifar10_tiny_folder(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    for root in (tmp_path, folder):  # the folder itself or its parent
        splits = load_dataset({"name": "cifar10", "root": str(root)})
        assert splits.input_shape == (3, 32, 32)
        assert len(splits.y_train) + len(splits.y_val) == 20
        assert len(splits.y_test) == 3
        assert splits.num_classes == 10
        assert splits.augment == "crop_flip"  # auto
    raw = DATASETS.get("cifar10")(DataOptions(name="cifar10", root=str(folder)))
    with (folder / "data_batch_2").open("rb") as f:
        batch = pickle.load(f, encoding="bytes")
    assert np.array_equal(raw.x_train[4], batch[b"data"][0].reshape(3, 32, 32))
    assert raw.y_train[4] == batch[b"labels"][0]
    plain = load_dataset({"name": "cifar10", "root": str(folder), "augment": "none"})
    assert plain.augment == "none"


def test_cifar10_refuses_foreign_pickles(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path)
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({b"data": Path("x"), b"labels": []}, f)
    with pytest.raises(DppnasError, match="not a CIFAR-10 python batch"):
        load_dataset({"name": "cifar10", "root": str(folder)})


def test_cifar10_missing_names_paths_and_download(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DppnasError) as info:
        load_dataset({"name": "cifar10", "root": str(root)})
    message = str(info.value)
    assert "\n" not in message
    assert str(root) in message and str(root / "cifar-10-batches-py") in message
    assert "download: true" in message

    monkeypatch.setenv("DPPNAS_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cifar10_module, "download_cifar10", lambda parent: pytest.fail("download"))
    with pytest.raises(DppnasError) as info:
        load_dataset({"name": "cifar10"})
    message = str(info.value)
    assert str(tmp_path / "env" / "cifar-10-batches-py") in message
    assert str(tmp_path / "home" / ".cache" / "dppnas" / "cifar-10-batches-py") in message
    assert "data/cifar-10-batches-py" in message


def test_cifar10_download_only_when_asked(tmp_path: Path, monkeypatch) -> None:
    calls: list[Path] = []

    def fake_download(parent: Path) -> Path:
        calls.append(parent)
        return write_cifar(parent)

    monkeypatch.setattr(cifar10_module, "download_cifar10", fake_download)
    root = tmp_path / "data"
    splits = load_dataset({"name": "cifar10", "root": str(root), "download": True})
    assert calls == [root] and len(splits.y_test) == 3
    load_dataset({"name": "cifar10", "root": str(root), "download": True})
    assert len(calls) == 1  # found on disk the second time


# --- npz -----------------------------------------------------------------------------------


def test_npz_with_test_arrays_channel_last(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "a.npz", 50, 12, shape=(6, 5, 3))
    splits = load_dataset({"name": "npz", "path": str(path)})
    assert splits.input_shape == (3, 6, 5)
    assert len(splits.y_test) == 12 and len(splits.y_train) + len(splits.y_val) == 50
    assert splits.num_classes == 50
    raw = DATASETS.get("npz")(DataOptions(name="npz", path=str(path)))
    with np.load(path) as npz:
        assert np.array_equal(raw.x_test, np.moveaxis(npz["x_test"], 3, 1))
        assert np.array_equal(raw.x_train[:, 2, 4, 1], npz["x_train"][:, 4, 1, 2])


def test_npz_without_test_arrays_and_root(tmp_path: Path) -> None:
    write_npz(tmp_path / "b.npz", 100, None, shape=(7, 7))
    splits = load_dataset(
        {"name": "npz", "root": str(tmp_path), "path": "b.npz", "test_fraction": 0.3}
    )
    assert splits.input_shape == (1, 7, 7)
    assert len(splits.y_test) == 30 and len(splits.y_val) == 7 and len(splits.y_train) == 63


def test_npz_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^dataset\.path: required for the npz dataset$"):
        load_dataset({"name": "npz"})
    with pytest.raises(DppnasError, match="file not found"):
        load_dataset({"name": "npz", "path": str(tmp_path / "missing.npz")})
    np.savez(tmp_path / "bad.npz", images=np.zeros((3, 4, 4)))
    with pytest.raises(DppnasError, match="expected x_train, y_train"):
        load_dataset({"name": "npz", "path": str(tmp_path / "bad.npz")})


# --- options -------------------------------------------------------------------------------


def test_unknown_dataset_lists_names() -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset({"name": "imagenet"})
    message = str(info.value)
    assert message.startswith("dataset.name:")
    for name in ("cifar10", "digits", "fashion-mnist", "npz"):
        assert name in message


def test_option_errors() -> None:
    with pytest.raises(ConfigError, match=r"^dataset\.download:"):
        load_dataset({"name": "digits", "download": True})
    with pytest.raises(ConfigError, match=r"^dataset\.colour: unknown key"):
        load_dataset({"name": "digits", "colour": "red"})
    with pytest.raises(ConfigError, match=r"^dataset\.val_fraction:"):
        load_dataset({"name": "digits", "val_fraction": 1.0})
    with pytest.raises(ConfigError, match=r"^dataset\.train_subset:"):
        load_dataset({"name": "digits", "train_subset": 0})


def test_to_device() -> None:
    splits = load_dataset({"name": "digits", "train_subset": 20})
    assert splits.to("cpu") is splits
    moved = splits.to("meta")
    assert moved is not splits and moved.x_train.device.type == "meta"
    assert moved.y_test.device.type == "meta" and splits.x_train.device.type == "cpu"


# --- iterate_batches -----------------------------------------------------------------------


def ids_batches(n: int, batch_size: int, **kwargs) -> list[torch.Tensor]:
    x = torch.randn(n, 1, 2, 2)
    y = torch.arange(n)
    batches = list(iterate_batches(x, y, batch_size, **kwargs))
    for xb, yb in batches:
        assert torch.equal(xb, x[yb])  # images stay with their labels
    return [yb for _, yb in batches]


def test_batches_in_order_cover_everything_once() -> None:
    ys = ids_batches(10, 4, shuffle=False)
    assert [len(y) for y in ys] == [4, 4, 2]
    assert torch.equal(torch.cat(ys), torch.arange(10))
    ys = ids_batches(10, 4, shuffle=False, drop_last=True)
    assert [len(y) for y in ys] == [4, 4]


def test_batches_shuffled_cover_everything_once() -> None:
    ys = ids_batches(103, 16, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert [len(y) for y in ys] == [16] * 6 + [7]
    ids = torch.cat(ys)
    assert torch.equal(ids.sort().values, torch.arange(103))
    assert not torch.equal(ids, torch.arange(103))
    ys = ids_batches(103, 16, shuffle=True, drop_last=True)
    ids = torch.cat(ys)
    assert len(ids) == 96 and len(ids.unique()) == 96


def test_batches_reproducible_with_generator() -> None:
    x, y = torch.randn(64, 3, 8, 8), torch.arange(64)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(seed)
        return list(iterate_batches(x, y, 10, shuffle=True, augment="crop_flip", generator=gen))

    a, b, c = epoch(7), epoch(7), epoch(8)
    assert all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b, strict=True)
    )
    assert not all(torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, c, strict=True))


def candidate_views(image: torch.Tensor, padding: int = 4) -> list[torch.Tensor]:
    """Every crop (and its mirror) of ``image`` after zero padding: the reference."""
    _, h, w = image.shape
    padded = F.pad(image, (padding,) * 4)
    views = []
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            crop = padded[:, top : top + h, left : left + w]
            views += [crop, crop.flip(-1)]
    return views


def test_crop_flip_shapes_changes_and_alignment() -> None:
    x, y = torch.randn(40, 3, 8, 8), torch.arange(40)
    gen = torch.Generator().manual_seed(0)
    batches = list(iterate_batches(x, y, 16, shuffle=True, augment="crop_flip", generator=gen))
    assert [xb.shape for xb, _ in batches] == [(16, 3, 8, 8), (16, 3, 8, 8), (8, 3, 8, 8)]
    changed = 0
    for xb, yb in batches:
        assert xb.dtype == x.dtype
        for image, label in zip(xb, yb, strict=True):
            original = x[label]
            assert any(torch.equal(image, view) for view in candidate_views(original))
            changed += not torch.equal(image, original)
    assert changed > 20


def test_crop_flip_edge_cases() -> None:
    empty = torch.zeros(0, 3, 8, 8)
    assert random_crop_flip(empty).shape == empty.shape
    x, y = torch.zeros(4, 1, 2, 2), torch.arange(4)
    with pytest.raises(ValueError, match="batch_size"):
        list(iterate_batches(x, y, 0, shuffle=False))
    with pytest.raises(ValueError, match="augment"):
        list(iterate_batches(x, y, 2, shuffle=False, augment="cutout"))
