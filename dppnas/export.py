"""``dppnas export``: a trained front architecture as ONNX or TorchScript, verified on export.

The model is rebuilt from the trial's config, its trained weights are loaded from the trial's
latest checkpoint (``model.pt``, training form), then :func:`dppnas.nn.deploy` condenses it to
the inference form that was measured during the search. The export is run from memory on a
random input (onnxruntime / ``torch.jit.load``) and compared with the deployed torch model;
only an export that passes replaces the output file (atomically).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from dppnas.atomic import atomic_writer
from dppnas.errors import DppnasError
from dppnas.results.run import RunResults

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4


@dataclass
class Exported:
    """Where the model went, from which trial, and how far the export is from torch."""

    path: Path
    trial_id: str
    max_abs_diff: float


def load_trained_model(run: RunResults, trial_id: str) -> tuple[nn.Module, tuple[int, ...]]:
    """The trial's trained network in inference form (deployed, eval) and its input shape."""
    from dppnas.data import load_dataset
    from dppnas.nn import deploy
    from dppnas.spaces import make_space
    from dppnas.train import CONFIG_FILE, MODEL_FILE

    checkpoint = run.checkpoint(trial_id)
    config = json.loads((checkpoint / CONFIG_FILE).read_text())
    data = load_dataset(config["data"])
    model = make_space(config["space"]).build(config["arch"], data.input_shape, data.num_classes)
    state = torch.load(checkpoint / MODEL_FILE, weights_only=True, map_location="cpu")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise DppnasError(f"{checkpoint}: weights do not fit the rebuilt model ({first})") from None
    return deploy(model).cpu().eval(), tuple(data.input_shape)


def export_bytes(model: nn.Module, example: torch.Tensor, fmt: str) -> tuple[bytes, float]:
    """``model`` serialised in ``fmt`` and run back from those bytes on ``example``: the
    bytes and their max |diff| to torch. Nothing is written."""
    with torch.inference_mode():
        expected = model(example).numpy()
    buffer = io.BytesIO()
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401 - torch's exporter needs it
            import onnxruntime
        except ImportError:
            raise DppnasError(
                "--format onnx needs onnx and onnxruntime (to export and to verify the export): "
                "pip install 'dppnas[onnx]' (in a checkout: .venv/bin/pip install -e '.[onnx]'), "
                "or use --format torchscript"
            ) from None

        # the TorchScript-based exporter: the dynamo one needs onnxscript
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
        session = onnxruntime.InferenceSession(
            buffer.getvalue(), providers=["CPUExecutionProvider"]
        )
        got = session.run(None, {"input": example.numpy()})[0]
    elif fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        torch.jit.save(traced, buffer)
        with torch.inference_mode():
            got = torch.jit.load(io.BytesIO(buffer.getvalue())).eval()(example).numpy()
    else:
        raise DppnasError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    return buffer.getvalue(), float(abs(got - expected).max())


def export_trial(
    run: RunResults,
    out: Path,
    fmt: str,
    rank: int | None = None,
    trial_id: str | None = None,
    batch: int = 2,
) -> Exported:
    """Export the front entry at ``rank`` (or ``trial_id``); raise when the check fails."""
    entry = run.entry(rank=rank, trial_id=trial_id)
    model, input_shape = load_trained_model(run, entry.trial_id)
    example = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0))
    data, diff = export_bytes(model, example, fmt)
    if not diff <= TOLERANCE:
        raise DppnasError(
            f"{out}: the {fmt} export differs from the torch model by {diff:.3g} "
            f"(> {TOLERANCE:g}) on a random input; nothing was written"
        )
    with atomic_writer(out, binary=True) as handle:  # verified first, then replaces ``out``
        handle.write(data)
    return Exported(out, entry.trial_id, diff)
