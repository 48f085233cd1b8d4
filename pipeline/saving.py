"""What a run keeps: the metrics and the whole training state after a test pass (or where the
page asked), written by rank 0 with a signal held back until the files are whole, and what a
stopped run says it left behind."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from . import checkpoints, distributed, interrupts, report
from .errors import UserError
from .parts import Parts
from .progress import Position, Progress
from .settings import Settings


def save(s: Settings, network: str, model: nn.Module, parts: Parts, p: Progress, batches: int,
         device: torch.device) -> None:
    """The metrics so far, and the whole state after `batches` batches of this epoch."""
    if not (s.checkpoint or s.metrics):
        return
    ended = batches == parts.num_batches
    state = None
    if s.checkpoint:  # every rank: it gathers their random states
        state = checkpoints.make_checkpoint(
            network, model, parts.optimizer, parts.scheduler, parts.generator,
            p.epoch if ended else p.epoch - 1, s.as_dict(), p.metrics, parts.num_batches,
            batch=0 if ended else batches, order_state=p.order_state,
            losses={"test": p.test_loss.as_list(), "epoch": p.epoch_loss.as_list()})

    def write() -> None:
        if s.metrics:
            report.write_metrics(s.metrics, p.metrics)
        if state is not None:
            checkpoints.atomic_save(state, s.checkpoint)

    with interrupts.deferred_interrupt():  # a signal waits until the file and `saved` agree
        on_main(write, device)  # no rank runs ahead of the files on disk
        if state is not None:
            p.saved = Position(p.epoch - 1, batches).epochs(parts.num_batches)


def on_main(write: Callable[[], None], device: torch.device) -> None:
    """Rank 0 writes; every rank stops with the error if that failed."""
    error = None
    if distributed.is_main():
        try:
            write()
        except UserError as e:
            error = e
    if distributed.any_rank(error is not None, device):
        raise error or UserError("rank 0 could not write a file (its error line says which)")


def kept(s: Settings, p: Progress, resumed: dict | None) -> str:
    """What a stopped run leaves behind, for the last line it prints."""
    if not s.checkpoint:
        return ""
    if not p.saved:
        if len(p.metrics) > (len(resumed["metrics"]) if resumed else 0):
            return f"; no checkpoint could be written to {s.checkpoint}"
        return f"; no test pass had run, so {s.checkpoint} was not written"
    return (f"; {s.checkpoint} holds epoch {p.saved:g}: continue with "
            f"--resume {s.checkpoint}")
