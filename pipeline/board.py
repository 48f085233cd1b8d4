"""--tensorboard DIR: a training run as TensorBoard shows it (`tensorboard --logdir DIR`).

At every test pass, the metrics CSV's row as scalars; at the end of the run, the figures of
--plot (first-layer filters, confusion matrix, mistakes) as images, a histogram of every
weight tensor, and, on a run that starts afresh, the network's graph. The step is the run's
position in training batches, so a resumed run continues the same curves: its writer drops
anything the stopped run logged past the checkpoint it resumes from. Rank 0 only.
"""
from __future__ import annotations

import contextlib
import threading
import warnings

import torch
from torch import nn

from common import Split

from . import report
from .device import cpu_copy
from .errors import UserError

SCALARS = {  # metrics CSV column -> TensorBoard tag
    "epoch": "epoch", "train_loss": "loss/train", "test_loss": "loss/test",
    "test_accuracy": "accuracy/test", "lr": "learning_rate", "seconds": "seconds",
}


class Board:
    """The run's TensorBoard writer, a watcher of the run (pipeline/training.Watcher). Its
    events are written by a thread of TensorBoard's; a full or failing disk there is said as
    one line, from the run's next call, with the run stopping as for any file it cannot write."""

    def __init__(self, folder: str, resumed: bool) -> None:
        self.folder, self.resumed = folder, resumed
        self.hook = threading.excepthook
        self.writer = None  # opened when the run has set up (started)

    def started(self, run) -> None:
        from torch.utils.tensorboard import SummaryWriter

        threading.excepthook = self.quiet_writer_thread
        with self.said():
            # Resuming: drop what a stopped run logged after the checkpoint's step (not at it).
            self.writer = SummaryWriter(self.folder,
                                        purge_step=run.step + 1 if self.resumed else None)

    def between(self, run, piece) -> float:
        if piece.tested:
            self.test_pass(run.metrics[-1], run.step)
        return 0.0

    def ended(self, run, line: str) -> None:
        try:
            if self.writer is not None and run.test_data is not None:
                predictions = report.predictions(run.model, run.test_data,
                                                 run.settings.test_batch_size)
                self.end(run.model, run.test_data, predictions, run.step)
        finally:
            self.close()

    def stopped(self, run, line: str) -> None:
        self.close()

    def quiet_writer_thread(self, args: threading.ExceptHookArgs) -> None:
        """The writer thread's OSError is raised again by the next write: no traceback."""
        if not (issubclass(args.exc_type, OSError) and "Writer" in type(args.thread).__name__):
            self.hook(args)

    @contextlib.contextmanager
    def said(self):
        try:
            yield
        except OSError as e:
            raise UserError(f"--tensorboard {self.folder}: cannot be written "
                            f"({e.strerror or e})") from None

    def test_pass(self, row: dict[str, float], step: int) -> None:
        with self.said():
            for column, tag in SCALARS.items():
                self.writer.add_scalar(tag, row[column], step)
            self.writer.flush()

    def end(self, model: nn.Module, test: Split, predictions: torch.Tensor, step: int) -> None:
        """The --plot figures, the weight histograms and (once per run) the graph."""
        with self.said():
            self.figures(model, test, predictions, step)
            for name, tensor in model.state_dict().items():
                if tensor.is_floating_point() and tensor.numel() > 1:
                    self.writer.add_histogram(name, tensor.detach().float().cpu(), step)
            if not self.resumed:
                self.graph(model)
            self.writer.flush()

    def figures(self, model: nn.Module, test: Split, predictions: torch.Tensor,
                step: int) -> None:
        plt = report.pyplot()
        labels = test.labels.cpu()
        figure = plt.figure(figsize=(5, 5), layout="constrained")
        report.plot_confusion(figure.subplots(), labels, predictions)
        self.writer.add_figure("confusion_matrix", figure, step)
        figure = plt.figure(figsize=(9, 4), layout="constrained")
        report.plot_mistakes(figure, test.images.cpu(), labels, predictions)
        self.writer.add_figure("mistakes", figure, step)
        figure = plt.figure(figsize=(6, 4), layout="constrained")
        report.plot_filters(figure, model)
        self.writer.add_figure("first_layer_filters", figure, step)

    def graph(self, model: nn.Module) -> None:
        """The network as traced from one 28 x 28 image in eval mode (main head only)."""
        net = cpu_copy(model)
        with warnings.catch_warnings():  # add_graph traces with torch.jit, which warns it is old
            warnings.simplefilter("ignore")
            self.writer.add_graph(net, torch.zeros(1, 1, 28, 28))

    def close(self) -> None:
        """The last flush (test_pass and end have flushed: a disk error was said there)."""
        try:
            if self.writer is not None:
                with contextlib.suppress(OSError):
                    self.writer.close()
        finally:
            threading.excepthook = self.hook
