"""One training epoch and one evaluation, printing the lecture's lines."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .errors import NonFiniteLoss


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: Split, epoch: int,
                batch_size: int, log_interval: int, generator: torch.Generator, *,
                scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
                dry_run: bool = False, progress: bool = False) -> float:
    """One pass over a fresh permutation of `data`; returns the mean training loss.

    The step never waits for the device: each step's loss stays a device tensor until the
    next log line, where the window of losses is checked (a NaN or infinity stops the run,
    naming the batch) and summed in one go.
    """
    model.train()
    device = data.labels.device
    n = len(data)
    num_batches = math.ceil(n / batch_size)
    order = torch.randperm(n, generator=generator).to(device)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=num_batches, desc=f"Epoch {epoch}", unit="batch", leave=True)
    window, sizes = [], []  # losses (device tensors) and batch sizes since the last log line
    loss_sum, seen = 0.0, 0
    for batch_idx in range(num_batches):
        idx = order[batch_idx * batch_size:(batch_idx + 1) * batch_size]
        images, labels = data.images[idx], data.labels[idx]
        optimizer.zero_grad(set_to_none=True)
        loss = F.nll_loss(model(images), labels)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        window.append(loss.detach())
        sizes.append(len(idx))
        if bar is not None:
            bar.update()
        if batch_idx % log_interval == 0 or batch_idx == num_batches - 1 or dry_run:
            losses = torch.stack(window).float().cpu()  # the one sync per log line
            bad = (~torch.isfinite(losses)).nonzero()
            if len(bad):
                first = int(bad[0])
                if bar is not None:
                    bar.close()
                raise NonFiniteLoss(epoch, batch_idx - len(window) + 1 + first, num_batches,
                                    float(losses[first]))
            loss_sum += float((losses * torch.tensor(sizes)).sum())
            seen += sum(sizes)
            window, sizes = [], []
            if bar is not None:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
            elif batch_idx % log_interval == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(idx)}/{n} "
                      f"({100.0 * batch_idx / num_batches:.0f}%)]\tLoss: {float(losses[-1]):.6f}")
            if dry_run:
                break
    if bar is not None:
        bar.close()
    return loss_sum / seen


@torch.inference_mode()
def evaluate(model: nn.Module, data: Split, batch_size: int,
             keep_predictions: bool = False) -> tuple[float, int, torch.Tensor | None]:
    """Average loss, number correct, and (if asked) every prediction, over `data`."""
    model.eval()
    device = data.labels.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    predictions = []
    for start in range(0, len(data), batch_size):
        images = data.images[start:start + batch_size]
        labels = data.labels[start:start + batch_size]
        output = model(images)
        loss_sum += F.nll_loss(output.float(), labels, reduction="sum")
        predicted = output.argmax(dim=1)
        correct += (predicted == labels).sum()
        if keep_predictions:
            predictions.append(predicted)
    kept = torch.cat(predictions).cpu() if keep_predictions else None
    return loss_sum.item() / len(data), int(correct), kept


def print_test(loss: float, correct: int, total: int) -> None:
    print(f"\nTest set: Average loss: {loss:.4f}, Accuracy: {correct}/{total} "
          f"({100.0 * correct / total:.0f}%)\n")
