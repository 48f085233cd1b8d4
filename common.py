"""The lecture's loop, shared by every script: MNIST in memory, train() and test().

Read it after simple_cnn.py, top to bottom; it is the whole of how a run trains and tests:

    train_data, test_data = load_mnist("./data", device)   # normalised tensors on the device
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(train_data))              # this epoch's shuffle
        train(model, optimizer, Batches(train_data, order, 64), epoch, log_interval=10)
        test(model, test_data, 1000)

It needs torch and torchvision only, and imports nothing of the project: a notebook or a
script of your own can use it as it is. A script defines `class Net` and its recipe and hands
them to the command line (`pipeline/cli.py`); what a real run adds around this loop (the
flags, checkpoints and exact resume, test passes inside an epoch, torchrun, signals, the
learning-rate schedule, --amp, TensorBoard, the web page) lives in `pipeline/` and calls these
functions; none of it runs inside them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # over the 60,000 training images, pixels in [0, 1]


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] float pixels -> what the networks see: mean 0, standard deviation 1."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.float().div_(255)
    return (pixels - MNIST_MEAN) / MNIST_STD


def denormalise(images: torch.Tensor) -> torch.Tensor:
    """What the networks see -> pixels in [0, 1] again (0 black paper, 1 white ink), to draw."""
    return images * MNIST_STD + MNIST_MEAN


@dataclass
class Split:
    """One of MNIST's two sets, held whole on the device: no DataLoader, no per-image work."""
    images: torch.Tensor  # N x 1 x 28 x 28 float32, normalised
    labels: torch.Tensor  # N int64

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> Split:
        return Split(self.images[:n], self.labels[:n])


def load_mnist(data_dir: str, device: torch.device) -> tuple[Split, Split]:
    """MNIST's training and test sets on `device`, read by torchvision from DATA_DIR/MNIST/raw
    (downloaded there if missing). The command line checks the files first, so that a damaged
    or missing one is one clear line (pipeline/data.py)."""
    from torchvision import datasets  # here: importing a script stays cheap

    splits = []
    for train_set in (True, False):
        mnist = datasets.MNIST(data_dir, train=train_set, download=True)
        images = mnist.data.to(device).unsqueeze(1)  # N x 1 x 28 x 28, uint8
        splits.append(Split(normalise(images), mnist.targets.to(device)))
    return splits[0], splits[1]


@dataclass
class Batches:
    """Batches `start` up to `stop` of one epoch over `data`, taken in the order `order`.

    len() is the number of batches in the whole epoch, as len(train_loader) was in the
    lecture; iterating gives (batch_idx, (images, labels)) for the batches from start to stop.
    `transform`, if given, changes each batch of images (the fast recipe's random shifts).
    """
    data: Split
    order: torch.Tensor  # the epoch's permutation of image indices, on the data's device
    batch_size: int
    start: int = 0
    stop: int | None = None  # None: to the end of the epoch
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __iter__(self):
        for batch_idx in range(self.start, len(self) if self.stop is None else self.stop):
            idx = self.order[batch_idx * self.batch_size:(batch_idx + 1) * self.batch_size]
            images, labels = self.data.images[idx], self.data.labels[idx]
            if self.transform is not None:
                images = self.transform(images)
            yield batch_idx, (images, labels)


AUX_WEIGHT = 0.3  # GoogLeNet's weight for an auxiliary classifier's loss


def training_loss(output: torch.Tensor | tuple[torch.Tensor, ...],
                  labels: torch.Tensor) -> torch.Tensor:
    """The lecture's F.nll_loss; a network with auxiliary heads returns (main, aux, ...)."""
    if isinstance(output, tuple):
        main_output, *aux = output
        return F.nll_loss(main_output, labels) + AUX_WEIGHT * sum(
            F.nll_loss(a, labels) for a in aux)
    return F.nll_loss(output, labels)


def train(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Batches, epoch: int,
          log_interval: int) -> torch.Tensor:
    """Train on `batches`, printing the lecture's line every `log_interval` batches (0: none).

    Returns each batch's loss, still on the device: reading a number off a GPU waits for it
    to finish, so only the printed lines do that.
    """
    model.train()
    losses = []
    for batch_idx, (images, labels) in batches:
        optimizer.zero_grad()
        loss = training_loss(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        if log_interval and batch_idx % log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(images)}/{len(batches.order)} "
                  f"({100.0 * batch_idx / len(batches):.0f}%)]\tLoss: {loss.item():.6f}")
    return torch.stack(losses)


@torch.inference_mode()
def evaluate(model: nn.Module, data: Split, batch_size: int) -> tuple[float, int]:
    """The average loss over `data`, and how many images the network gets right."""
    model.eval()
    loss = torch.zeros((), device=data.labels.device)
    correct = torch.zeros((), dtype=torch.long, device=data.labels.device)
    for start in range(0, len(data), batch_size):
        images = data.images[start:start + batch_size]
        labels = data.labels[start:start + batch_size]
        output = model(images)  # N x 10 log-probabilities
        loss += F.nll_loss(output, labels, reduction="sum")
        correct += (output.argmax(dim=1) == labels).sum()
    return loss.item() / len(data), int(correct)  # the pass's one wait for the device


def test(model: nn.Module, data: Split, batch_size: int) -> tuple[float, int]:
    """evaluate(), printed as the lecture prints it; returns (average loss, correct)."""
    loss, correct = evaluate(model, data, batch_size)
    print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {correct}/{len(data)} "
          f"({100.0 * correct / len(data):.0f}%)\n")
    return loss, correct
