"""What a finished run says and leaves: its summary line (the lecture's last line, with the
seconds and the best accuracy), then the files it was asked for (weights, plot, ONNX)."""
from __future__ import annotations

from torch import nn

import common

from . import checkpoints, export, report
from .progress import Progress
from .settings import Settings


def summary(s: Settings, p: Progress, num_batches: int, seconds: float) -> str:
    """"Finished: 10 epochs in 38.4 s (3.84 s/epoch), best accuracy 98.86% at epoch 9,
    final 98.81%", and the target when one was set."""
    ran = p.metrics[-1]["epoch"] - p.start.epochs(num_batches)
    best = max(p.metrics, key=lambda r: r["test_accuracy"])
    target = ""
    if s.target_accuracy:
        target = (f", target {s.target_accuracy:.2f}% "
                  f"{'reached' if p.reached else 'not reached'}")
    return (f"Finished: {ran:g} epoch{'' if ran == 1 else 's'} in {seconds:.1f} s "
            f"({seconds / ran:.2f} s/epoch), best accuracy {best['test_accuracy']:.2f}% at "
            f"epoch {best['epoch']}, final {p.metrics[-1]['test_accuracy']:.2f}%{target}")


def write(s: Settings, network: str, model: nn.Module, test_data: common.Split,
          metrics: list[dict[str, float]]) -> None:
    """What the run was asked to leave: weights, plot, ONNX (rank 0)."""
    if s.save_model:
        checkpoints.save_weights(model, s.save_model, network)
        print(f"weights saved to {s.save_model} (use them with --load {s.save_model})")
    if s.plot:
        report.plot(s.plot, metrics, model, test_data,
                    report.predictions(model, test_data, s.test_batch_size),
                    f"{network}: {metrics[-1]['epoch']} epochs")
    if s.export_onnx:
        export.export_onnx(model, s.export_onnx, test_data, s.test_batch_size)
