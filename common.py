"""What every script imports: the command line, the device, MNIST in memory, the loop, checkpoints.

A script defines `class Net` and calls `common.main(Net, description=__doc__)`; everything
else is shared, so a flag works the same in every script. The code lives in the small
package `pipeline/`, one module per concern; this file gathers what scripts, tests and the
benchmark use, so they all read `from common import ...` / `common.X`.
"""
from pipeline.checkpoints import atomic_save, load_weights, read, read_checkpoint
from pipeline.cli import main, make_parser, positive_int
from pipeline.data import (MNIST_FILES, MNIST_MEAN, MNIST_STD, Split, check_idx_file,
                           load_digit, load_mnist, normalise)
from pipeline.errors import Interrupted, NonFiniteLoss, UserError
from pipeline.loop import evaluate, print_test, train_epoch, training_loss
from pipeline.device import pick_device, prepare_model
from pipeline.report import flatten_size, summary, write_metrics
from pipeline.run import network_name, run

__all__ = [
    "atomic_save", "load_weights", "read", "read_checkpoint",
    "main", "make_parser", "network_name", "pick_device", "positive_int", "prepare_model", "run",
    "MNIST_FILES", "MNIST_MEAN", "MNIST_STD", "Split", "check_idx_file", "load_digit",
    "load_mnist", "normalise",
    "Interrupted", "NonFiniteLoss", "UserError",
    "evaluate", "print_test", "train_epoch", "training_loss",
    "flatten_size", "summary", "write_metrics",
]
