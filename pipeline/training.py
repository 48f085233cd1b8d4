"""A training run: the lecture's train() and test() from common.py, cut and wrapped.

The run decides where an epoch is cut: at every log line (where it checks the losses so far
and every torchrun rank stops at the same step if one got a signal) and at every test pass
(where it tests, writes the checkpoint and the metrics, and stops at --target-accuracy).
Between two pieces it does what the lecture's loop does not need to know about, and tells
its watchers (the --serve page, TensorBoard) through one small protocol, `Watcher`, which
gets a read-only `View` of the run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import nn

import common

from . import distributed, interrupts, parts, results, saving, stops
from .errors import Interrupted, NonFiniteLoss, UserError
from .progress import LossSum, Position, Progress, pieces
from .settings import Settings


@dataclass(frozen=True)
class View:
    """What a watcher sees of a run at one cut: read-only, but for `save`, which writes the
    checkpoint after batch N of the current epoch (as a test pass does) and returns the epochs
    the file then holds."""
    settings: Settings
    model: nn.Module
    epochs: int
    num_batches: int
    start: Position
    epoch: int
    metrics: tuple[dict[str, float], ...]
    test_data: common.Split | None  # None when there was nothing to train
    lr: float
    saved: float
    step: int
    save: Callable[[int], float]


@dataclass(frozen=True)
class Piece:
    """Batches `start` to `stop` of the current epoch, just trained: each one's loss (on the
    CPU, averaged over the ranks), and whether a test pass ran after it."""
    start: int
    stop: int
    losses: torch.Tensor
    tested: bool


class Watcher(Protocol):
    """What watches a run: told when it has set up, at every cut of an epoch, and at its end:
    `ended` with the summary line, or `stopped` with the line of what stopped it (a signal, an
    error), which the command then prints."""

    def started(self, run: View) -> None: ...

    def between(self, run: View, piece: Piece) -> float:
        """Returns the seconds it held the run there (a pause), which count in no speed."""

    def ended(self, run: View, line: str) -> None: ...

    def stopped(self, run: View, line: str) -> None: ...


class Training:
    """One run of --epochs, from scratch or from --resume: the lecture's loop, cut into pieces.

    Its state is in two fields set up once: `parts`, what the run builds before its first
    batch (pipeline/parts.py; None until then), and `progress`, where it is and what it has
    (pipeline/progress.py). `watchers` (the --serve page, TensorBoard) are told what happens
    through `Watcher`; saving is pipeline/saving.py's, the summary and the files the run
    leaves pipeline/results.py's.
    """

    def __init__(self, network: str, model: nn.Module, device: torch.device,
                 settings: Settings, resumed: dict | None,
                 watchers: tuple[Watcher, ...] = ()) -> None:
        self.network, self.model, self.device = network, model, device
        self.settings, self.resumed = settings, resumed
        self.epochs = 1 if settings.dry_run else settings.epochs
        self.progress = Progress.of(resumed)
        self.parts: parts.Parts | None = None
        self.watchers = tuple(watchers)
        self.bar = None  # --progress: this epoch's bar (tqdm), rank 0
        self.summary = ""  # the run's last line

    def run(self) -> None:
        """Train to the last epoch (or the target), then print the summary and write the
        files; what stops it early, its watchers are told in the line the command prints."""
        try:
            self.run_epochs()
        except BaseException as e:
            self.tell_stopped(e)
            raise

    def run_epochs(self) -> None:
        start = self.progress.start
        if start.epoch >= self.epochs:
            self.summary = (f"{self.settings.resume} has finished {start.epoch} of "
                            f"{self.epochs} epochs; nothing to train (raise --epochs to continue)")
            print(self.summary)
            self.tell(lambda w: w.ended(self.view(), self.summary))
            return
        self.parts = parts.build(self.model, self.device, self.settings, self.resumed)
        self.progress.saved = start.epochs(self.parts.num_batches)  # what the file holds
        self.progress.step = self.step(start)
        self.tell(lambda w: w.started(self.view()))
        started = time.perf_counter()
        self.train_until_stopped()
        self.finish(time.perf_counter() - started - self.progress.held)

    def tell(self, what: Callable[[Watcher], None]) -> None:
        for watcher in self.watchers:
            what(watcher)

    def tell_stopped(self, error: BaseException) -> None:
        line = stops.line(error)[0]
        self.tell(lambda w: w.stopped(self.view(), line))

    def view(self) -> View:
        """The run as its watchers see it now."""
        p, built = self.progress, self.parts
        return View(self.settings, self.model, self.epochs,
                    built.num_batches if built else 0, p.start, p.epoch, tuple(p.metrics),
                    built.test_data if built else None,
                    built.optimizer.param_groups[0]["lr"] if built else 0.0, p.saved, p.step,
                    self.save_now)

    def train_until_stopped(self) -> None:
        """The epochs; whatever stops them early becomes one line saying what was kept."""
        self.progress.since = time.perf_counter()
        try:
            self.train_epochs()
        except RuntimeError as e:
            if "deterministic" not in str(e):
                raise
            raise UserError(f"--deterministic: {str(e).splitlines()[0]}{self.kept()}") from None
        except NonFiniteLoss as e:
            raise UserError(f"{e}{self.kept()}") from None
        except UserError as e:  # a file that could not be written
            raise UserError(f"{e}; training stopped in epoch {self.progress.epoch}"
                            f"{self.kept()}") from None
        except KeyboardInterrupt as e:
            stop, p = interrupts.as_stop(e), self.progress
            where = f"{'after' if p.saved == p.epoch else 'in'} epoch {p.epoch}"
            raise Interrupted(f"{stop} {where}{self.kept()}", stop.signum) from None

    def kept(self) -> str:
        return saving.kept(self.settings, self.progress, self.resumed)

    def step(self, at: Position) -> int:
        """The run's position in batches trained: TensorBoard's step."""
        return at.epoch * self.parts.num_batches + at.batch

    def train_epochs(self) -> None:
        p, built = self.progress, self.parts
        for p.epoch in range(p.start.epoch + 1, self.epochs + 1):
            first = p.start.batch if p.epoch == p.start.epoch + 1 else 0
            p.order_state = built.generator.get_state()  # before this epoch's permutation
            train_data = built.training_set(self.settings.seed, p.epoch)
            order = torch.randperm(len(train_data), generator=built.generator)
            order = order[distributed.shard(len(train_data))].to(self.device)
            p.epoch_loss, p.test_loss = LossSum(), LossSum()
            if first and "losses" in self.resumed:  # resumed between two test passes
                p.epoch_loss = LossSum(*self.resumed["losses"].get("epoch", (0.0, 0)))
                p.test_loss = LossSum(*self.resumed["losses"].get("test", (0.0, 0)))
            self.bar = self.progress_bar(first)
            try:
                if self.train_epoch(train_data, order, first):
                    return
            finally:
                if self.bar is not None:
                    self.bar.close()
                self.bar = None

    def train_epoch(self, train_data: common.Split, order: torch.Tensor, first: int) -> bool:
        """This epoch's pieces from batch `first`, each ending at a log line or a test pass;
        True when a test pass reached the target."""
        s, parts = self.settings, self.parts
        log_interval = 0 if self.bar is not None else s.log_interval
        cuts = [(0, 1)] if s.dry_run else pieces(first, parts.num_batches, s.log_interval,
                                                 parts.test_at)
        for start, stop in cuts:
            batches = common.Batches(train_data, order, s.batch_size, start, stop,
                                     parts.transform)
            losses = common.train(parts.forward, parts.optimizer, batches, self.progress.epoch,
                                  log_interval)
            losses = self.add_losses(losses, batches)
            tested = s.dry_run or stop in parts.test_at  # a dry run's epoch is its first batch
            reached = tested and self.test_between(parts.num_batches if s.dry_run else stop)
            self.tell_between(Piece(start, stop, losses, tested))
            if reached:
                return True
        return False

    def tell_between(self, piece: Piece) -> None:
        """The watchers, at a cut; the time they held the run counts in no speed."""
        for watcher in self.watchers:
            held = watcher.between(self.view(), piece)
            self.progress.held += held
            self.progress.since += held

    def add_losses(self, losses: torch.Tensor, batches: common.Batches) -> torch.Tensor:
        """A piece's losses, averaged over the ranks (the step's one sync with the device): a
        NaN or infinity stops the run, naming its batch; the rest are added up, and returned
        on the CPU."""
        p = self.progress
        losses = distributed.all_reduce_sum(losses.float()).div_(distributed.world_size()).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            first = int(bad[0])
            raise NonFiniteLoss(p.epoch, batches.start + first, self.parts.num_batches,
                                float(losses[first]))
        sizes = torch.tensor([min(batches.batch_size, len(batches.order) - i * batches.batch_size)
                              for i in range(batches.start, batches.stop)])
        total, seen = float((losses * sizes).sum()), int(sizes.sum())  # seen: as on every rank
        p.epoch_loss.add(total, seen)
        p.test_loss.add(total, seen)
        interrupts.stop_together(self.device)  # under torchrun: all ranks stop at one step
        if self.bar is not None:
            self.bar.update(batches.stop - batches.start)
            self.bar.set_postfix(loss=f"{p.epoch_loss.mean():.4f}")
        return losses

    def progress_bar(self, first: int):
        """--progress: a bar for this epoch instead of the Train Epoch lines (rank 0); it
        stands where the lecture's lines would, so the run draws it, not a watcher."""
        if not (self.settings.progress and distributed.is_main()):
            return None
        from tqdm import tqdm
        return tqdm(total=self.parts.num_batches, initial=first,
                    desc=f"Epoch {self.progress.epoch}", unit="batch", leave=True)

    def test_between(self, batches: int) -> bool:
        """A test pass after `batches` batches (its line goes where the bar was); True to stop."""
        if self.bar is not None and batches < self.parts.num_batches:
            self.bar.clear()  # the bar comes back below the test line
        stop = self.test(batches)
        if self.bar is not None:
            self.bar.refresh()
        return stop

    def test(self, batches: int) -> bool:
        """A test pass after `batches` batches of this epoch: print, record, save; True to stop."""
        s, p, parts = self.settings, self.progress, self.parts
        distributed.broadcast_buffers(self.model)
        test_loss, correct = common.test(parts.tester, parts.test_data, s.test_batch_size)
        at = Position(p.epoch - 1, batches)
        p.metrics.append({"epoch": at.epochs(parts.num_batches),
                          "train_loss": p.test_loss.mean(), "test_loss": test_loss,
                          "test_accuracy": 100.0 * correct / len(parts.test_data),
                          "seconds": time.perf_counter() - p.since,
                          "lr": parts.optimizer.param_groups[0]["lr"]})
        p.test_loss = LossSum()
        p.step = self.step(at)
        self.save(batches)
        p.reached = bool(s.target_accuracy) and (
            p.metrics[-1]["test_accuracy"] >= s.target_accuracy)
        p.since = time.perf_counter()
        return p.reached

    def save_now(self, batches: int) -> float:
        """The checkpoint after `batches` batches of this epoch, where the page asked for it;
        the epochs the file then holds."""
        self.save(batches)
        return self.progress.saved

    def save(self, batches: int) -> None:
        saving.save(self.settings, self.network, self.model, self.parts, self.progress,
                    batches, self.device)

    def finish(self, seconds: float) -> None:
        """The summary line, then the files the run leaves and the watchers (rank 0)."""
        p = self.progress
        self.summary = results.summary(self.settings, p, self.parts.num_batches, seconds)
        print(self.summary)

        def wrap_up() -> None:
            results.write(self.settings, self.network, self.model, self.parts.test_data,
                          p.metrics)
            self.tell(lambda w: w.ended(self.view(), self.summary))
        try:
            saving.on_main(wrap_up, self.device)
        except UserError as e:
            raise UserError(f"{e}{self.kept()}") from None
