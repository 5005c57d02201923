"""Which kernel library PyTorch runs a convolution with: its *backend* (oneDNN, the native
im2col path, cuDNN, ...).

PyTorch picks a backend per call from the shapes, the batch size and the thread count
(``torch._C._select_conv_backend``, the function its own ``convolution`` dispatch uses): on one
CPU thread at batch 1, for example, a convolution goes to oneDNN (``Mkldnn``) only when both
kernel sides exceed 3 or its input holds more than 20,480 values, and to the native im2col path
(``Slow2d``) otherwise. ``dppnas profile`` records each convolution's backend in the table, so
that a calibration can give each backend a time per call (ours, measured on this CPU: a oneDNN
convolution costs more inside a network than timed alone, see
:mod:`dppnas.devices.calibration`).
"""

from __future__ import annotations

import torch

from dppnas.signatures.layer import LayerSignature

#: the ops that have a backend (the only ones PyTorch exposes its choice for)
BACKEND_OPS = frozenset({"conv2d"})


def conv_backend(signature: LayerSignature, batch_size: int = 1, device: str = "cpu") -> str | None:
    """The backend name (a ``torch._C._ConvBackend`` member, e.g. ``"Mkldnn"``, ``"Slow2d"``)
    PyTorch runs the convolution ``signature`` with, at ``batch_size`` on ``device`` and the
    current thread count (call it under the thread count the layer is timed with).

    ``None`` for other layers, and where this PyTorch does not expose its choice.
    """
    select = getattr(torch._C, "_select_conv_backend", None)
    if signature.op not in BACKEND_OPS or select is None or len(signature.inputs) != 1:
        return None
    channels, height, width = signature.inputs[0]
    kernel_h, kernel_w = signature.attr("kernel", (1, 1))
    groups = signature.attr("groups", 1)
    padding = signature.attr("padding", (0, 0))
    if not isinstance(padding, tuple) or not all(isinstance(p, int) for p in padding):
        padding = (0, 0)  # "same" / "valid": the choice does not depend on it
    x = torch.empty(batch_size, channels, height, width, device=device)
    weight = torch.empty(signature.output[0], channels // groups, kernel_h, kernel_w, device=device)
    try:
        chosen = select(
            x,
            weight,
            None,
            list(signature.attr("stride", (1, 1))),
            list(padding),
            list(signature.attr("dilation", (1, 1))),
            False,
            [0, 0],
            groups,
        )
    except (RuntimeError, TypeError, ValueError):
        return None
    return str(chosen).rsplit(".", 1)[-1]
