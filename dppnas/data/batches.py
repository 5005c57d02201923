"""Minibatches sliced from tensors already on the training device, with vectorised augmentation.

The datasets are small enough to live on the GPU whole, so a DataLoader (worker processes,
per-sample collation, host-to-device copies every step) would only slow training down.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("none", "crop_flip")
CROP_PADDING = 4  # pixels of zero padding on every side before the random crop


def iterate_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    augment: str = "none",
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x_batch, y_batch)`` covering every example once (one epoch).

    ``x`` is ``(N, C, H, W)`` and ``y`` ``(N,)``, both on the device the model trains on.
    ``shuffle`` draws a permutation (from ``generator`` if given, so a seeded generator makes
    the epoch reproducible); otherwise batches are views in order. ``augment="crop_flip"``
    applies a random crop with 4-pixel zero padding and a random horizontal flip to each batch.
    ``drop_last`` drops a final batch smaller than ``batch_size``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x has {n} examples but y has {y.shape[0]}")
    order = _permutation(n, x.device, generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if order is None:
            xb, yb = x[start:end], y[start:end]
        else:
            index = order[start:end]
            xb, yb = x[index], y[index]
        if augment == "crop_flip":
            xb = random_crop_flip(xb, generator=generator)
        yield xb, yb


def _draw_device(device: torch.device, generator: torch.Generator | None) -> torch.device:
    """Where random numbers are drawn: the generator's device, else the data's."""
    return generator.device if generator is not None else device


def _permutation(n: int, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """A random permutation of ``range(n)`` on ``device``, moved there once per epoch."""
    draw_on = _draw_device(device, generator)
    return torch.randperm(n, generator=generator, device=draw_on).to(device)


def random_crop_flip(
    x: torch.Tensor, *, padding: int = CROP_PADDING, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Randomly crop (after ``padding`` zero pixels) and horizontally flip a batch at once.

    ``x`` is ``(B, C, H, W)``; the result has the same shape, dtype and device. The data are
    already normalised, so the zero padding is the training mean. Every image gets its own
    offsets and flip, gathered with one indexing operation instead of a per-sample loop.
    """
    b, _, h, w = x.shape
    if b == 0:
        return x
    draw_on = _draw_device(x.device, generator)
    top = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=draw_on)
    left = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=draw_on)
    flip = torch.rand(b, generator=generator, device=draw_on) < 0.5
    top, left, flip = top.to(x.device), left.to(x.device), flip.to(x.device)

    rows = top[:, None] + torch.arange(h, device=x.device)  # (B, H) rows of the padded image
    cols = torch.arange(w, device=x.device).expand(b, w)
    # Flipping reverses the column order inside the crop window.
    cols = torch.where(flip[:, None], cols.flip(1), cols) + left[:, None]  # (B, W)

    padded = F.pad(x, (padding, padding, padding, padding))
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indices around the channel slice put their broadcast dims first: (B, H, W, C).
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()
