"""One training epoch and one evaluation, printing the lecture's lines."""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Collection

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed, interrupts
from .data import MNIST_MEAN, MNIST_STD, Split
from .errors import NonFiniteLoss


def autocast(device: torch.device, amp: bool):
    """bf16 autocast for --amp (CPUs with AVX-512 BF16 or AMX, and CUDA); else nothing."""
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def random_shift(images: torch.Tensor, pixels: int) -> torch.Tensor:
    """Move each image by its own random offset of up to `pixels` in x and y, on its device."""
    n, _, h, w = images.shape
    background = -MNIST_MEAN / MNIST_STD  # a black pixel after normalisation
    padded = F.pad(images[:, 0], (pixels,) * 4, value=background)  # N x (h+2p) x (w+2p)
    offsets = torch.randint(0, 2 * pixels + 1, (n, 2), device=images.device)
    rows = offsets[:, 0, None] + torch.arange(h, device=images.device)  # N x h
    cols = offsets[:, 1, None] + torch.arange(w, device=images.device)  # N x w
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # N x 1 x h x w


AUX_WEIGHT = 0.3  # GoogLeNet's weight for an auxiliary classifier's loss


def training_loss(output: torch.Tensor | tuple[torch.Tensor, ...],
                  labels: torch.Tensor) -> torch.Tensor:
    """NLL of the log-probabilities; a network with auxiliary heads returns (main, aux, ...)."""
    if isinstance(output, tuple):
        main, *aux = output
        return F.nll_loss(main.float(), labels) + AUX_WEIGHT * sum(
            F.nll_loss(a.float(), labels) for a in aux)
    return F.nll_loss(output.float(), labels)


class LossWindow:
    """The training losses of an epoch, kept on the device until a log line reads them.

    Reading (`flush`) is the step's one sync with the device: the losses since the last read
    are checked (a NaN or infinity stops the run, naming its batch), averaged over the ranks
    under torchrun, and added to two running sums: since the epoch began (`mean`) and since
    the last test pass (`take_since_test`).
    """

    def __init__(self, epoch: int, num_batches: int) -> None:
        self.epoch, self.num_batches = epoch, num_batches
        self.losses: list[torch.Tensor] = []  # device tensors since the last read
        self.sizes: list[int] = []
        self.total, self.seen = 0.0, 0  # since the start of the epoch (or of a resumed part)
        self.part, self.part_seen = 0.0, 0  # since the last test pass

    def add(self, loss: torch.Tensor, size: int) -> None:
        self.losses.append(loss.detach())
        self.sizes.append(size)

    def flush(self, batch_idx: int) -> float:
        """Read the window that ends at batch `batch_idx`; returns that batch's loss."""
        losses = torch.stack(self.losses).float()
        world = distributed.world_size()
        losses = distributed.all_reduce_sum(losses).div_(world).cpu()  # the one sync
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            first = int(bad[0])
            raise NonFiniteLoss(self.epoch, batch_idx - len(self.losses) + 1 + first,
                                self.num_batches, float(losses[first]))
        window_sum = float((losses * torch.tensor(self.sizes)).sum())
        self.total += window_sum
        self.part += window_sum
        self.seen += sum(self.sizes)  # the same on every rank
        self.part_seen += sum(self.sizes)
        self.losses, self.sizes = [], []
        return float(losses[-1])

    @property
    def mean(self) -> float:
        return self.total / self.seen

    def take_since_test(self) -> float:
        """The mean loss since the last test pass; the next one starts counting afresh."""
        mean = self.part / self.part_seen
        self.part, self.part_seen = 0.0, 0
        return mean


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: Split, epoch: int,
                batch_size: int, log_interval: int, generator: torch.Generator, *,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                augment: int = 0, amp: bool = False, dry_run: bool = False,
                progress: bool = False, start: int = 0, test_at: Collection[int] = (),
                on_test: Callable[[int, float], bool] | None = None) -> float:
    """One pass over a fresh permutation of `data`; returns the mean training loss.

    The step never waits for the device: the losses are read once per log line (LossWindow).
    Under torchrun each rank takes its shard of the same permutation.

    Testing inside the epoch: after each number of batches in `test_at`, on_test(batches done,
    mean training loss since the last test) runs, and the epoch stops there if it returns
    True. `start` skips the batches a resumed run has already trained (the generator must be
    where it was when this epoch's permutation was drawn). A dry run's epoch ends after its
    first batch.
    """
    model.train()
    device, n = data.labels.device, len(data)
    order = torch.randperm(n, generator=generator)[distributed.shard(n)].to(device)
    num_batches = math.ceil(len(order) / batch_size)
    bar = progress_bar(epoch, num_batches, start) if progress else None
    window = LossWindow(epoch, num_batches)
    try:
        for batch_idx in range(start, num_batches):
            idx = order[batch_idx * batch_size:(batch_idx + 1) * batch_size]
            images, labels = data.images[idx], data.labels[idx]
            if augment:
                images = random_shift(images, augment)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, amp):
                loss = training_loss(model(images), labels)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            window.add(loss, len(idx))
            if bar is not None:
                bar.update()
            done = num_batches if dry_run else batch_idx + 1
            test_now = on_test is not None and (done in test_at or dry_run)
            if batch_idx % log_interval == 0 or done == num_batches or test_now:
                last = window.flush(batch_idx)
                interrupts.stop_together(device)  # under torchrun: all ranks stop at one step
                if bar is not None:
                    bar.set_postfix(loss=f"{window.mean:.4f}")
                elif batch_idx % log_interval == 0:
                    print(f"Train Epoch: {epoch} [{batch_idx * len(idx) * distributed.world_size()}"
                          f"/{n} ({100.0 * batch_idx / num_batches:.0f}%)]\tLoss: {last:.6f}")
                if test_now and test_between(bar, on_test, done, num_batches, window):
                    break
            if dry_run:
                break
    finally:
        if bar is not None:
            bar.close()
    return window.mean


def progress_bar(epoch: int, num_batches: int, start: int):
    from tqdm import tqdm
    return tqdm(total=num_batches, initial=start, desc=f"Epoch {epoch}", unit="batch", leave=True)


def test_between(bar, on_test: Callable[[int, float], bool], done: int, num_batches: int,
                 window: LossWindow) -> bool:
    """Run a test pass after `done` batches (its line goes where the bar was); True to stop."""
    if bar is not None and done < num_batches:
        bar.clear()  # the bar comes back below the test line
    stop = on_test(done, window.take_since_test())
    if bar is not None:
        bar.refresh()
    return stop


@torch.inference_mode()
def evaluate(model: nn.Module, data: Split, batch_size: int, keep_predictions: bool = False,
             amp: bool = False, sharded: bool = False) -> tuple[float, int, torch.Tensor | None]:
    """Average loss, number correct, and (if asked) every prediction, over `data`.

    sharded: under torchrun, each rank evaluates its own part and the sums are all-reduced.
    """
    model.eval()
    device = data.labels.device
    total = len(data)
    if sharded:
        per_rank = math.ceil(total / distributed.world_size())
        data = Split(data.images[distributed.rank() * per_rank:][:per_rank],
                     data.labels[distributed.rank() * per_rank:][:per_rank])
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    predictions = []
    for start in range(0, len(data), batch_size):
        images = data.images[start:start + batch_size]
        labels = data.labels[start:start + batch_size]
        with autocast(device, amp):
            output = model(images).float()
        loss_sum += F.nll_loss(output, labels, reduction="sum")
        predicted = output.argmax(dim=1)
        correct += (predicted == labels).sum()
        if keep_predictions:
            predictions.append(predicted)
    if sharded:
        distributed.all_reduce_sum(loss_sum)
        distributed.all_reduce_sum(correct)
    kept = torch.cat(predictions).cpu() if keep_predictions else None
    return loss_sum.item() / total, int(correct), kept


def print_test(loss: float, correct: int, total: int) -> None:
    print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {correct}/{total} "
          f"({100.0 * correct / total:.0f}%)\n")
