"""--export-onnx PATH: the network as ONNX, checked with onnxruntime on the test set.

The export uses torch.onnx's dynamo exporter on a CPU, fp32, eval-mode copy of the network
(so a network with an auxiliary head exports only its main one), with a dynamic batch size.
Right after it, onnxruntime runs the whole test set and is compared with PyTorch: one line
gives both accuracies and the largest difference in log-probabilities. Above 1e-4 the export
is refused and nothing is written.
"""
from __future__ import annotations

import torch
from torch import nn

from common import Split

from . import files
from .device import cpu_copy
from .errors import UserError

TOLERANCE = 1e-4  # largest difference in log-probabilities accepted, fp32


def to_onnx(model: nn.Module) -> bytes:
    """The network (eval mode, CPU, fp32) as an ONNX model with a dynamic batch dimension."""
    net = cpu_copy(model)
    example = torch.zeros(2, 1, 28, 28)
    batch = torch.export.Dim("batch", min=1)
    try:
        program = torch.onnx.export(net, (example,), dynamo=True, dynamic_shapes=({0: batch},),
                                    verbose=False)
    except Exception as e:
        raise UserError(f"--export-onnx: torch.onnx could not export this network "
                        f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    return program.model_proto.SerializeToString()


def compare(model: nn.Module, onnx_model: bytes, test: Split,
            batch_size: int) -> tuple[float, float, float]:
    """Test accuracy in PyTorch and in onnxruntime, and their largest log-probability gap."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    net = cpu_copy(model)
    correct_torch = correct_onnx = 0
    largest = 0.0
    with torch.inference_mode():
        for start in range(0, len(test), batch_size):
            images = test.images[start:start + batch_size].cpu().float().contiguous()
            labels = test.labels[start:start + batch_size].cpu()
            expected = net(images)  # N x 10 log-probabilities
            got = torch.from_numpy(session.run(None, {name: images.numpy()})[0])
            gap = (got - expected).abs().nan_to_num(nan=torch.inf)  # a NaN is no agreement
            largest = max(largest, float(gap.max()))
            correct_torch += int((expected.argmax(1) == labels).sum())
            correct_onnx += int((got.argmax(1) == labels).sum())
    return 100.0 * correct_torch / len(test), 100.0 * correct_onnx / len(test), largest


def export_onnx(model: nn.Module, path: str, test: Split, batch_size: int) -> None:
    """Export, check on the test set, and write `path` only if the check passes."""
    onnx_model = to_onnx(model)
    accuracy_torch, accuracy_onnx, largest = compare(model, onnx_model, test, batch_size)
    if not largest <= TOLERANCE:  # NaN fails too
        raise UserError(f"--export-onnx {path}: onnxruntime's log-probabilities differ from "
                        f"PyTorch's by up to {largest:.2e} (more than {TOLERANCE:g}); "
                        f"nothing was written")
    files.write_bytes(path, onnx_model)
    print(f"ONNX: {path}: test accuracy {accuracy_onnx:.2f}% in onnxruntime, "
          f"{accuracy_torch:.2f}% in PyTorch; largest difference in log-probabilities "
          f"{largest:.1e}")
