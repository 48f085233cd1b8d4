"""What a training run builds once, before its first batch: the data (MNIST's, and people's
pen digits drawn anew each epoch), the optimiser and its schedule, restored from a resumed
checkpoint, the batch order's generator, the augmentation, and the model as the steps and the
test passes run it (DDP, torch.compile, autocast)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

import common

from . import augment, checkpoints, data, distributed, pens, recipes
from .device import device_forward
from .errors import UserError
from .settings import Settings


def test_points(num_batches: int, evals_per_epoch: int) -> frozenset[int]:
    """The batches of an epoch after which a test pass runs: evenly spaced, the last at its end."""
    return frozenset(round(num_batches * k / evals_per_epoch)
                     for k in range(1, evals_per_epoch + 1)) - {0}


@dataclass(frozen=True)
class Parts:
    """What a run builds once, before its first batch."""
    train_data: common.Split  # MNIST's
    pens: pens.PenPictures | None  # --pen-digits: drawn anew into each epoch's training set
    test_data: common.Split
    num_batches: int  # per epoch, on this rank
    test_at: frozenset[int]  # test_points()
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    generator: torch.Generator  # the batch order, on the CPU
    transform: Callable[[torch.Tensor], torch.Tensor] | None
    forward: Callable  # what the steps run (DDP, torch.compile, autocast around the model)
    tester: Callable  # what the test passes run

    def training_set(self, seed: int, epoch: int) -> common.Split:
        """An epoch's training set: MNIST's, then the pen digits drawn with this epoch's pen
        widths and styles, which the seed and the epoch alone decide (a resumed run draws the
        same)."""
        if self.pens is None:
            return self.train_data
        chance = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**64)
        drawn = self.pens.epoch(chance)
        return common.Split(torch.cat([self.train_data.images, drawn.images]),
                            torch.cat([self.train_data.labels, drawn.labels]))


def build(model: nn.Module, device: torch.device, settings: Settings,
          resumed: dict | None) -> Parts:
    """Data, optimiser, schedule and batch order, restored from the checkpoint if resuming."""
    s = settings
    train_data, test_data = data.load_mnist(s.data_dir, device)
    if s.dry_run:
        test_data = test_data.head(s.test_batch_size)
    pen_pictures = pen_digits(s.pen_digits, len(train_data), device)
    images = len(train_data) + (pen_pictures.per_epoch if pen_pictures else 0)
    num_batches = -(-(images // distributed.world_size()) // s.batch_size)
    if s.evals_per_epoch > num_batches:
        raise UserError(f"--evals-per-epoch {s.evals_per_epoch}: an epoch has only "
                        f"{num_batches} batches of {s.batch_size} here")
    optimizer = recipes.make_optimizer(model, s)
    if s.grad_clip:
        recipes.clip_gradients(optimizer, model, s.grad_clip)
    scheduler = recipes.make_scheduler(optimizer, s, num_batches)
    generator = torch.Generator().manual_seed(s.seed)
    if resumed is not None:
        check_layout(s, resumed, num_batches)
        checkpoints.restore(resumed, s.resume, model, optimizer, scheduler, generator)
        if {"lr", "momentum", "weight_decay", "optimizer"} & set(s.typed):
            recipes.override_groups(optimizer, scheduler, s)
    if scheduler is not None:  # the schedule moves after every step of the optimiser
        optimizer.register_step_post_hook(lambda *_: scheduler.step())
    forward, tester = wrap_model(model, device, s)
    return Parts(train_data, pen_pictures, test_data, num_batches,
                 test_points(num_batches, s.evals_per_epoch), optimizer, scheduler,
                 generator, augment.Augmentation.of(s), forward, tester)


def pen_digits(chosen: str, mnist: int, device: torch.device) -> pens.PenPictures | None:
    """--pen-digits: the chosen pen digits, ready to be drawn (a few seconds, once)."""
    if chosen == "none":
        return None
    pictures = pens.PenPictures.of(pens.chosen(chosen), device)
    if distributed.is_main():
        print(f"Training on {mnist:,} MNIST images and {len(pictures):,} pen digits "
              f"({chosen}), drawn with a new pen width each epoch, half the 0s, 1s, 2s, 4s, "
              f"7s and 9s in a way people write them")
    return pictures


def check_layout(s: Settings, resumed: dict, num_batches: int) -> None:
    """A run resumed inside an epoch (or on a schedule counted in batches) must cut its
    epochs into the same batches as the run it continues, or it would train part of an
    epoch twice: else one line saying why."""
    saved, batch = resumed.get("batches"), resumed.get("batch", 0)
    if saved is None or saved == num_batches:
        return
    if batch:
        where = f"{batch} batches into epoch {resumed['epoch'] + 1}"
    elif s.schedule != "constant":
        where = f"on --schedule {s.schedule}, which counts its steps in batches"
    else:
        return  # a fresh epoch may be cut anew
    was = resumed["args"]["batch_size"]
    raise UserError(f"--resume {s.resume}: it stopped {where}, with {saved} batches of "
                    f"{was} an epoch; this run would have {num_batches} batches of "
                    f"{s.batch_size}, so its batches would fall elsewhere. Resume with "
                    f"--batch-size {was}, as many torchrun processes and the same data")


def wrap_model(model: nn.Module, device: torch.device, s: Settings) -> tuple[Callable, Callable]:
    """What the steps run and what the test passes run; `model` itself is what is saved,
    evaluated and restored."""
    forward = model
    if distributed.active():
        forward = torch.nn.parallel.DistributedDataParallel(
            forward, device_ids=[device] if device.type == "cuda" else None)
    if s.compile:
        forward = torch.compile(forward)
    forward = device_forward(forward, device, s.amp)
    # Under torchrun each rank tests with the plain module (DDP's forward would expect the
    # same number of calls on every rank), after taking rank 0's batch-norm statistics.
    tester = device_forward(model, device, s.amp) if distributed.active() else forward
    return forward, tester
