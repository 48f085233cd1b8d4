"""Training recipes: the lecture's settings, and what a script's FAST recipe changes.

`--recipe lecture` is the lecture's loop for every network: SGD lr 0.01 momentum 0.5,
batch 64, 10 epochs, constant learning rate, no augmentation. `--recipe fast` is the lecture's
settings updated by the script's own FAST dict, tuned per network for accuracy per second
(see the README for what each reaches). `--recipe handwriting` is the script's fast recipe
trained twice as many epochs with the ways people write and people's pen digits (HANDWRITING),
for digits from outside MNIST (docs/see-inside.md). A flag typed on the command line always wins.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .errors import UserError
from .settings import TABLE, shown

# the lecture's value of every recipe setting: the table's defaults (pipeline/settings.py)
LECTURE = {name: default for name, (default, flag) in TABLE.items()
           if flag.group == "recipe" and flag.typed and name != "recipe"}


# small turns, sizes, slants and pen widths, and people's pen digits drawn into the training
# set (pipeline/pens.py): docs/see-inside.md gives what each network reads with them
HANDWRITING = {"rotate": 10.0, "scale": 0.1, "shear": 10.0, "thickness": 1.0,
               "pen_digits": "all"}


def typed(chosen: dict) -> str:
    """Settings as they would be typed: "--rotate 10 --scale 0.1 ..."."""
    return " ".join(f"--{name.replace('_', '-')} {shown(value, TABLE[name][1])}"
                    for name, value in chosen.items())


def values(recipe: str, fast: dict | None) -> dict:
    """Every recipe setting for `--recipe recipe`, given the script's FAST dict."""
    if recipe == "lecture":
        return dict(LECTURE)
    unknown = sorted(set(fast or ()) - set(LECTURE))
    if unknown:
        raise UserError(f"FAST has settings no flag takes: {', '.join(unknown)}")
    chosen = {**LECTURE, **(fast or {})}
    if recipe == "handwriting":
        chosen.update(HANDWRITING, epochs=2 * chosen["epochs"])
    return chosen


def lr_factor(step: int, total: int, schedule: str) -> float:
    """The learning rate at `step` of `total`, as a fraction of --lr.

    onecycle: a linear warm-up from 0.1 over the first 20% of the steps, then a cosine decay
    towards 0 at the last step of the planned epochs; constant after that.
    """
    if schedule == "constant" or total <= 0:
        return 1.0
    progress = min(step / total, 1.0)
    warmup = 0.2
    if progress < warmup:
        return 0.1 + 0.9 * progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (progress - warmup) / (1.0 - warmup)))


def make_optimizer(model: nn.Module, settings) -> torch.optim.Optimizer:
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings.lr,
                                 weight_decay=settings.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                           weight_decay=settings.weight_decay,
                           nesterov=settings.optimizer == "nesterov")


def clip_gradients(optimizer: torch.optim.Optimizer, model: nn.Module, norm: float) -> None:
    """--grad-clip: before every step of the optimiser, the gradients scaled down to a total
    norm of at most `norm`, from outside the lecture's loop (a hook on the optimiser)."""
    def clip(*_) -> None:  # a step hook that returned the norm would replace step's arguments
        torch.nn.utils.clip_grad_norm_(model.parameters(), norm)
    optimizer.register_step_pre_hook(clip)


def make_scheduler(optimizer: torch.optim.Optimizer, settings,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR | None:
    """None for a constant rate (the lecture's loop stays exactly the lecture's)."""
    if settings.schedule == "constant":
        return None
    total = settings.schedule_epochs * steps_per_epoch
    schedule = settings.schedule
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total, schedule))


def override_groups(optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LambdaLR | None, settings) -> None:
    """After a restore (which brings back the checkpoint's values): the settings typed again,
    --lr, --momentum, --weight-decay, --optimizer sgd / nesterov, replace them."""
    factor = 1.0
    if scheduler is not None:
        scheduler.base_lrs = [settings.lr] * len(optimizer.param_groups)
        factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for group in optimizer.param_groups:
        group["lr"] = settings.lr * factor
        group["weight_decay"] = settings.weight_decay
        if "momentum" in group:
            group["momentum"] = settings.momentum
            group["nesterov"] = settings.optimizer == "nesterov"
