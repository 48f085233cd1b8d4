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
from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch
from torch import nn

import common

from . import (augment, board, checkpoints, data, distributed, export, interrupts, pens,
               recipes, report)
from .device import device_forward
from .errors import Interrupted, NonFiniteLoss, UserError
from .settings import Settings


@dataclass(frozen=True)
class Position:
    """How far a run is: `epoch` epochs finished and `batch` batches into the next one."""
    epoch: int
    batch: int = 0

    def epochs(self, num_batches: int) -> float:
        """In epochs: 2 after two epochs, 2.25 a quarter into the third."""
        if self.batch % num_batches == 0:
            return self.epoch + self.batch // num_batches
        return round(self.epoch + self.batch / num_batches, 2)


class LossSum:
    """Training losses added up, weighted by batch size: since a test pass, or an epoch."""

    def __init__(self, total: float = 0.0, seen: int = 0) -> None:
        self.total, self.seen = total, seen

    def add(self, total: float, seen: int) -> None:
        self.total += total
        self.seen += seen

    def mean(self) -> float:
        return self.total / self.seen

    def as_list(self) -> list[float]:  # as a checkpoint holds it
        return [self.total, self.seen]


def test_points(num_batches: int, evals_per_epoch: int) -> frozenset[int]:
    """The batches of an epoch after which a test pass runs: evenly spaced, the last at its end."""
    return frozenset(round(num_batches * k / evals_per_epoch)
                     for k in range(1, evals_per_epoch + 1)) - {0}


def pieces(first: int, num_batches: int, log_interval: int,
           test_at: frozenset[int]) -> list[tuple[int, int]]:
    """Where an epoch is cut, from batch `first`: before each log line and at each test pass.

    pieces(0, 10, 4, {5, 10}) == [(0, 4), (4, 5), (5, 8), (8, 10)]"""
    cuts = set(range(log_interval, num_batches, log_interval)) | test_at | {num_batches}
    cuts = sorted(c for c in cuts if c > first)
    return list(zip([first] + cuts[:-1], cuts))


@dataclass(frozen=True)
class Parts:
    """What a run builds once, before its first batch: the data, the optimiser and schedule,
    the batch order's generator, the augmentation, and what the steps and test passes run."""
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


@dataclass
class Progress:
    """Where a run is and what it has: the state that changes between two pieces."""
    start: Position  # where this run began (a resumed run: the checkpoint's position)
    epoch: int  # the epoch being trained
    metrics: list[dict[str, float]]  # a row per test pass, a resumed run's earlier ones too
    saved: float = 0.0  # in epochs, what the file at --checkpoint holds; 0: nothing written
    step: int = 0  # batches trained at the last test pass (TensorBoard's step)
    reached: bool = False  # the target accuracy
    held: float = 0.0  # seconds the page held the run (a pause): not in its speed
    since: float = 0.0  # perf_counter at the last test pass (its "seconds" column)
    order_state: torch.Tensor | None = None  # the generator before this epoch's permutation
    epoch_loss: LossSum = field(default_factory=LossSum)
    test_loss: LossSum = field(default_factory=LossSum)  # since the last test pass


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
    """What watches a run: told when it has set up, at every cut of an epoch, and at its end."""

    def started(self, run: View) -> None: ...

    def between(self, run: View, piece: Piece) -> float:
        """Returns the seconds it held the run there (a pause), which count in no speed."""

    def ended(self, run: View, line: str) -> None: ...


class Training:
    """One run of --epochs, from scratch or from --resume.

    Its state is in two fields set up once: `parts`, what the run builds before its first
    batch (None until then), and `progress`, where it is and what it has. `watchers` (the
    --serve page, TensorBoard) are told what happens through `Watcher`.
    """

    def __init__(self, network: str, model: nn.Module, device: torch.device,
                 settings: Settings, resumed: dict | None,
                 watchers: tuple[Watcher, ...] = ()) -> None:
        self.network, self.model, self.device = network, model, device
        self.settings, self.resumed = settings, resumed
        self.epochs = 1 if settings.dry_run else settings.epochs
        start = Position(resumed["epoch"], resumed.get("batch", 0)) if resumed else Position(0)
        self.progress = Progress(start, start.epoch + 1,
                                 list(resumed["metrics"]) if resumed else [])
        self.parts: Parts | None = None
        self.board = board.Board(settings.tensorboard, resumed is not None) \
            if settings.tensorboard and distributed.is_main() else None
        self.watchers = tuple(watchers) + ((self.board,) if self.board else ())
        self.bar = None  # --progress: this epoch's bar (tqdm), rank 0
        self.summary = ""  # the run's last line

    def run(self) -> None:
        """Train to the last epoch (or the target), then print the summary and write the files."""
        start = self.progress.start
        if start.epoch >= self.epochs:
            self.summary = (f"{self.settings.resume} has finished {start.epoch} of "
                            f"{self.epochs} epochs; nothing to train (raise --epochs to continue)")
            print(self.summary)
            self.tell_ended()
            return
        try:
            self.parts = self.set_up()
            self.progress.saved = start.epochs(self.parts.num_batches)  # what the file holds
            self.progress.step = self.step(start)
            for watcher in self.watchers:
                watcher.started(self.view())
            started = time.perf_counter()
            self.train_until_stopped()
            self.finish(time.perf_counter() - started - self.progress.held)
        finally:
            if self.board:
                self.board.close()

    def view(self) -> View:
        """The run as its watchers see it now."""
        p, parts = self.progress, self.parts
        return View(self.settings, self.model, self.epochs,
                    parts.num_batches if parts else 0, p.start, p.epoch, tuple(p.metrics),
                    parts.test_data if parts else None,
                    parts.optimizer.param_groups[0]["lr"] if parts else 0.0, p.saved, p.step,
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

    def set_up(self) -> Parts:
        """Data, optimiser, schedule and batch order, restored from the checkpoint if resuming."""
        s, model = self.settings, self.model
        train_data, test_data = data.load_mnist(s.data_dir, self.device)
        if s.dry_run:
            test_data = test_data.head(s.test_batch_size)
        pen_pictures = self.pen_pictures(len(train_data))
        images = len(train_data) + (len(pen_pictures) if pen_pictures else 0)
        num_batches = -(-(images // distributed.world_size()) // s.batch_size)
        if s.evals_per_epoch > num_batches:
            raise UserError(f"--evals-per-epoch {s.evals_per_epoch}: an epoch has only "
                            f"{num_batches} batches of {s.batch_size} here")
        optimizer = recipes.make_optimizer(model, s)
        if s.grad_clip:
            recipes.clip_gradients(optimizer, model, s.grad_clip)
        scheduler = recipes.make_scheduler(optimizer, s, num_batches)
        generator = torch.Generator().manual_seed(s.seed)
        if self.resumed is not None:
            self.check_layout(num_batches)
            checkpoints.restore(self.resumed, s.resume, model, optimizer, scheduler, generator)
            if {"lr", "momentum", "weight_decay", "optimizer"} & set(s.typed):
                recipes.override_groups(optimizer, scheduler, s)
        if scheduler is not None:  # the schedule moves after every step of the optimiser
            optimizer.register_step_post_hook(lambda *_: scheduler.step())
        forward, tester = self.wrap_model()
        return Parts(train_data, pen_pictures, test_data, num_batches,
                     test_points(num_batches, s.evals_per_epoch), optimizer, scheduler,
                     generator, augment.Augmentation.of(s), forward, tester)

    def pen_pictures(self, mnist: int) -> pens.PenPictures | None:
        """--pen-digits: the chosen pen digits, ready to be drawn (a few seconds, once)."""
        chosen = self.settings.pen_digits
        if chosen == "none":
            return None
        pictures = pens.PenPictures.of(pens.chosen(chosen), self.device)
        if distributed.is_main():
            print(f"Training on {mnist:,} MNIST images and {len(pictures):,} pen digits "
                  f"({chosen}), drawn with a new pen width each epoch, half the 0s, 1s and 7s "
                  f"styled")
        return pictures

    def training_set(self) -> common.Split:
        """This epoch's training set: MNIST's, then the pen digits drawn with this epoch's pen
        widths and styles, which the seed and the epoch alone decide (a resumed run draws the
        same)."""
        parts = self.parts
        if parts.pens is None:
            return parts.train_data
        chance = torch.Generator().manual_seed(
            (self.settings.seed * 1_000_003 + self.progress.epoch) % 2**64)
        drawn = parts.pens.epoch(chance)
        return common.Split(torch.cat([parts.train_data.images, drawn]),
                            torch.cat([parts.train_data.labels, parts.pens.labels]))

    def check_layout(self, num_batches: int) -> None:
        """A run resumed inside an epoch (or on a schedule counted in batches) must cut its
        epochs into the same batches as the run it continues, or it would train part of an
        epoch twice: else one line saying why."""
        s, saved, start = self.settings, self.resumed.get("batches"), self.progress.start
        if saved is None or saved == num_batches:
            return
        if start.batch:
            where = f"{start.batch} batches into epoch {start.epoch + 1}"
        elif s.schedule != "constant":
            where = f"on --schedule {s.schedule}, which counts its steps in batches"
        else:
            return  # a fresh epoch may be cut anew
        was = self.resumed["args"]["batch_size"]
        raise UserError(f"--resume {s.resume}: it stopped {where}, with {saved} batches of "
                        f"{was} an epoch; this run would have {num_batches} batches of "
                        f"{s.batch_size}, so its batches would fall elsewhere. Resume with "
                        f"--batch-size {was}, as many torchrun processes and the same data")

    def wrap_model(self) -> tuple[Callable, Callable]:
        """What the steps run and what the test passes run; `model` itself is what is saved,
        evaluated and restored."""
        s, forward = self.settings, self.model
        if distributed.active():
            forward = torch.nn.parallel.DistributedDataParallel(
                forward, device_ids=[self.device] if self.device.type == "cuda" else None)
        if s.compile:
            forward = torch.compile(forward)
        forward = device_forward(forward, self.device, s.amp)
        # Under torchrun each rank tests with the plain module (DDP's forward would expect the
        # same number of calls on every rank), after taking rank 0's batch-norm statistics.
        tester = device_forward(self.model, self.device, s.amp) if distributed.active() \
            else forward
        return forward, tester

    def step(self, at: Position) -> int:
        """The run's position in batches trained: TensorBoard's step."""
        return at.epoch * self.parts.num_batches + at.batch

    def train_epochs(self) -> None:
        p, parts = self.progress, self.parts
        for p.epoch in range(p.start.epoch + 1, self.epochs + 1):
            first = p.start.batch if p.epoch == p.start.epoch + 1 else 0
            p.order_state = parts.generator.get_state()  # before this epoch's permutation
            train_data = self.training_set()
            order = torch.randperm(len(train_data), generator=parts.generator)
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
        """The metrics so far, and the whole state after `batches` batches of this epoch (at
        a test pass, or where the page asked for it)."""
        s, p, parts = self.settings, self.progress, self.parts
        if not (s.checkpoint or s.metrics):
            return
        ended = batches == parts.num_batches
        state = None
        if s.checkpoint:  # every rank: it gathers their random states
            state = checkpoints.make_checkpoint(
                self.network, self.model, parts.optimizer, parts.scheduler, parts.generator,
                p.epoch if ended else p.epoch - 1, s.as_dict(), p.metrics, parts.num_batches,
                batch=0 if ended else batches, order_state=p.order_state,
                losses={"test": p.test_loss.as_list(), "epoch": p.epoch_loss.as_list()})

        def write() -> None:
            if s.metrics:
                report.write_metrics(s.metrics, p.metrics)
            if state is not None:
                checkpoints.atomic_save(state, s.checkpoint)

        with interrupts.deferred_interrupt():  # a signal waits until the file and `saved` agree
            self.on_main(write)  # no rank runs ahead of the files on disk
            if state is not None:
                p.saved = Position(p.epoch - 1, batches).epochs(parts.num_batches)

    def on_main(self, write: Callable[[], None]) -> None:
        """Rank 0 writes; every rank stops with the error if that failed."""
        error = None
        if distributed.is_main():
            try:
                write()
            except UserError as e:
                error = e
        if distributed.any_rank(error is not None, self.device):
            raise error or UserError("rank 0 could not write a file (its error line says which)")

    def finish(self, seconds: float) -> None:
        """The summary line, then the trained weights and the plot (rank 0), then the watchers."""
        s, p = self.settings, self.progress
        ran = p.metrics[-1]["epoch"] - p.start.epochs(self.parts.num_batches)
        best = max(p.metrics, key=lambda r: r["test_accuracy"])
        target = ""
        if s.target_accuracy:
            target = (f", target {s.target_accuracy:.2f}% "
                      f"{'reached' if p.reached else 'not reached'}")
        self.summary = (f"Finished: {ran:g} epoch{'' if ran == 1 else 's'} in {seconds:.1f} s "
                        f"({seconds / ran:.2f} s/epoch), best accuracy "
                        f"{best['test_accuracy']:.2f}% at epoch {best['epoch']}, final "
                        f"{p.metrics[-1]['test_accuracy']:.2f}%{target}")
        print(self.summary)
        try:
            self.on_main(self.wrap_up)
        except UserError as e:
            raise UserError(f"{e}{self.kept()}") from None

    def tell_ended(self) -> None:
        for watcher in self.watchers:
            watcher.ended(self.view(), self.summary)

    def wrap_up(self) -> None:
        """Rank 0, after the summary: the files the run was asked to leave, then the watchers."""
        self.write_results()
        self.tell_ended()

    def write_results(self) -> None:
        """What the run was asked to leave: weights, plot, ONNX."""
        s, parts = self.settings, self.parts
        if s.save_model:
            checkpoints.save_weights(self.model, s.save_model, self.network)
            print(f"weights saved to {s.save_model} (use them with --load {s.save_model})")
        if s.plot:
            report.plot(s.plot, self.progress.metrics, self.model, parts.test_data,
                        report.predictions(self.model, parts.test_data, s.test_batch_size),
                        f"{self.network}: {self.progress.metrics[-1]['epoch']} epochs")
        if s.export_onnx:
            export.export_onnx(self.model, s.export_onnx, parts.test_data, s.test_batch_size)

    def kept(self) -> str:
        """What a stopped run leaves behind, for the last line it prints."""
        s, p = self.settings, self.progress
        if not s.checkpoint:
            return ""
        if not p.saved:
            if len(p.metrics) > (len(self.resumed["metrics"]) if self.resumed else 0):
                return f"; no checkpoint could be written to {s.checkpoint}"
            return f"; no test pass had run, so {s.checkpoint} was not written"
        return (f"; {s.checkpoint} holds epoch {p.saved:g}: continue with "
                f"--resume {s.checkpoint}")
