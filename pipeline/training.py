"""A training run: the lecture's train() and test() from common.py, cut and wrapped.

The run decides where an epoch is cut: at every log line (where it checks the losses so far
and every torchrun rank stops at the same step if one got a signal) and at every test pass
(where it tests, writes the checkpoint and the metrics, and stops at --target-accuracy).
Between two pieces it does what the lecture's loop does not need to know about.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

import common

from . import augment, board, checkpoints, distributed, export, interrupts, recipes, report
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


class Training:
    """One run of --epochs, from scratch or from --resume.

    Its fields are the run's state: where it started (`start`) and in which epoch it is
    (`epoch`), the metrics so far, how far the file at --checkpoint has got (`saved`, in
    epochs; 0 when nothing is written) and whether the target accuracy was `reached`.

    `watch`, if given, is called between two batches at every cut of an epoch: the --serve
    page while it trains (pipeline/live.py), which may also hold the run there (a pause).
    """

    def __init__(self, network: str, model: nn.Module, device: torch.device,
                 settings: Settings, resumed: dict | None, watch=None) -> None:
        self.network, self.model, self.device = network, model, device
        self.settings, self.resumed = settings, resumed
        self.metrics: list[dict[str, float]] = list(resumed["metrics"]) if resumed else []
        self.start = Position(resumed["epoch"], resumed.get("batch", 0)) if resumed \
            else Position(0)
        self.epochs = 1 if settings.dry_run else settings.epochs
        self.epoch = self.start.epoch + 1
        self.reached = False
        self.board, self.watch = None, watch
        self.held = 0.0  # seconds the page held the run (a pause): not in its speed
        self.summary = ""  # the run's last line

    def run(self) -> None:
        """Train to the last epoch (or the target), then print the summary and write the files."""
        if self.start.epoch >= self.epochs:
            self.summary = (f"{self.settings.resume} has finished {self.start.epoch} of "
                            f"{self.epochs} epochs; nothing to train (raise --epochs to continue)")
            print(self.summary)
            return
        self.set_up()
        try:
            started = time.perf_counter()
            self.train_until_stopped()
            self.finish(time.perf_counter() - started - self.held)
        finally:
            if self.board:
                self.board.close()

    def train_until_stopped(self) -> None:
        """The epochs; whatever stops them early becomes one line saying what was kept."""
        self.since = time.perf_counter()
        try:
            self.train_epochs()
        except RuntimeError as e:
            if "deterministic" not in str(e):
                raise
            raise UserError(f"--deterministic: {str(e).splitlines()[0]}{self.kept()}") from None
        except NonFiniteLoss as e:
            raise UserError(f"{e}{self.kept()}") from None
        except UserError as e:  # a file that could not be written
            raise UserError(f"{e}; training stopped in epoch {self.epoch}{self.kept()}") from None
        except KeyboardInterrupt as e:
            stop = interrupts.as_stop(e)
            where = f"{'after' if self.saved == self.epoch else 'in'} epoch {self.epoch}"
            raise Interrupted(f"{stop} {where}{self.kept()}", stop.signum) from None

    def set_up(self) -> None:
        """Data, optimiser, schedule and batch order, restored from the checkpoint if resuming."""
        s, model = self.settings, self.model
        self.train_data, self.test_data = common.load_mnist(s.data_dir, self.device)
        if s.dry_run:
            self.test_data = self.test_data.head(s.test_batch_size)
        self.images_per_rank = len(self.train_data) // distributed.world_size()
        self.num_batches = -(-self.images_per_rank // s.batch_size)
        if s.evals_per_epoch > self.num_batches:
            raise UserError(f"--evals-per-epoch {s.evals_per_epoch}: an epoch has only "
                            f"{self.num_batches} batches of {s.batch_size} here")
        self.test_at = {round(self.num_batches * k / s.evals_per_epoch)
                        for k in range(1, s.evals_per_epoch + 1)} - {0}
        self.optimizer = recipes.make_optimizer(model, s)
        self.scheduler = recipes.make_scheduler(self.optimizer, s, self.num_batches)
        self.generator = torch.Generator().manual_seed(s.seed)  # the batch order, on the CPU
        if self.resumed is not None:
            self.check_layout()
            checkpoints.restore(self.resumed, s.resume, model, self.optimizer, self.scheduler,
                                self.generator)
            if {"lr", "momentum", "weight_decay", "optimizer"} & set(s.typed):
                recipes.override_groups(self.optimizer, self.scheduler, s)
        if self.scheduler is not None:  # the schedule moves after every step of the optimiser
            self.optimizer.register_step_post_hook(lambda *_: self.scheduler.step())
        self.transform = augment.Augmentation.of(s)
        self.wrap_model()
        self.saved = self.start.epochs(self.num_batches)  # what the file at --checkpoint holds
        self.last_step = self.step(self.start)
        if s.tensorboard and distributed.is_main():
            self.board = board.Board(s.tensorboard, self.last_step, self.resumed is not None)
        if self.watch:
            self.watch.started(self)

    def check_layout(self) -> None:
        """A run resumed inside an epoch (or on a schedule counted in batches) must cut its
        epochs into the same batches as the run it continues, or it would train part of an
        epoch twice: else one line saying why."""
        s, saved = self.settings, self.resumed.get("batches")
        if saved is None or saved == self.num_batches:
            return
        if self.start.batch:
            where = f"{self.start.batch} batches into epoch {self.start.epoch + 1}"
        elif s.schedule != "constant":
            where = f"on --schedule {s.schedule}, which counts its steps in batches"
        else:
            return  # a fresh epoch may be cut anew
        was = self.resumed["args"]["batch_size"]
        raise UserError(f"--resume {s.resume}: it stopped {where}, with {saved} batches of "
                        f"{was} an epoch; this run would have {self.num_batches} batches of "
                        f"{s.batch_size}, so its batches would fall elsewhere. Resume with "
                        f"--batch-size {was}, as many torchrun processes and the same data")

    def wrap_model(self) -> None:
        """What the steps run (`forward`) and what the test passes run (`tester`); `model`
        itself is what is saved, evaluated and restored."""
        s, forward = self.settings, self.model
        if distributed.active():
            forward = torch.nn.parallel.DistributedDataParallel(
                forward, device_ids=[self.device] if self.device.type == "cuda" else None)
        if s.compile:
            forward = torch.compile(forward)
        self.forward = device_forward(forward, self.device, s.amp)
        # Under torchrun each rank tests with the plain module (DDP's forward would expect the
        # same number of calls on every rank), after taking rank 0's batch-norm statistics.
        self.tester = device_forward(self.model, self.device, s.amp) if distributed.active() \
            else self.forward

    def step(self, at: Position) -> int:
        """The run's position in batches trained: TensorBoard's step."""
        return at.epoch * self.num_batches + at.batch

    def train_epochs(self) -> None:
        for self.epoch in range(self.start.epoch + 1, self.epochs + 1):
            first = self.start.batch if self.epoch == self.start.epoch + 1 else 0
            self.order_state = self.generator.get_state()  # before this epoch's permutation
            order = torch.randperm(len(self.train_data), generator=self.generator)
            order = order[distributed.shard(len(self.train_data))].to(self.device)
            self.epoch_loss, self.test_loss = LossSum(), LossSum()
            if first and "losses" in self.resumed:  # resumed between two test passes
                self.epoch_loss = LossSum(*self.resumed["losses"].get("epoch", (0.0, 0)))
                self.test_loss = LossSum(*self.resumed["losses"].get("test", (0.0, 0)))
            self.bar = self.progress_bar(first)
            try:
                if self.train_epoch(order, first):
                    return
            finally:
                if self.bar is not None:
                    self.bar.close()

    def train_epoch(self, order: torch.Tensor, first: int) -> bool:
        """This epoch's pieces from batch `first`, each ending at a log line or a test pass;
        True when a test pass reached the target."""
        s = self.settings
        log_interval = 0 if self.bar is not None else s.log_interval
        for start, stop in self.pieces(first):
            batches = common.Batches(self.train_data, order, s.batch_size, start, stop,
                                     self.transform)
            losses = common.train(self.forward, self.optimizer, batches, self.epoch,
                                  log_interval)
            losses = self.add_losses(losses, batches)
            tested = s.dry_run or stop in self.test_at  # a dry run's epoch is its first batch
            if tested and self.test_between(self.num_batches if s.dry_run else stop):
                return True
            if self.watch:
                self.hold(self.watch.between(self, batches, losses, tested))
        return False

    def hold(self, seconds: float) -> None:
        """The run was held `seconds` between two batches: they count in no speed."""
        self.held += seconds
        self.since += seconds

    def pieces(self, first: int) -> list[tuple[int, int]]:
        """Where this epoch is cut, from batch `first`: before each log line, at each test."""
        if self.settings.dry_run:
            return [(0, 1)]
        interval = self.settings.log_interval
        cuts = set(range(interval, self.num_batches, interval)) | self.test_at | {self.num_batches}
        cuts = sorted(c for c in cuts if c > first)
        return list(zip([first] + cuts[:-1], cuts))

    def add_losses(self, losses: torch.Tensor, batches: common.Batches) -> torch.Tensor:
        """A piece's losses, averaged over the ranks (the step's one sync with the device): a
        NaN or infinity stops the run, naming its batch; the rest are added up, and returned
        on the CPU."""
        losses = distributed.all_reduce_sum(losses.float()).div_(distributed.world_size()).cpu()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            first = int(bad[0])
            raise NonFiniteLoss(self.epoch, batches.start + first, self.num_batches,
                                float(losses[first]))
        sizes = torch.tensor([min(batches.batch_size, len(batches.order) - i * batches.batch_size)
                              for i in range(batches.start, batches.stop)])
        total, seen = float((losses * sizes).sum()), int(sizes.sum())  # seen: as on every rank
        self.epoch_loss.add(total, seen)
        self.test_loss.add(total, seen)
        interrupts.stop_together(self.device)  # under torchrun: all ranks stop at one step
        if self.bar is not None:
            self.bar.update(batches.stop - batches.start)
            self.bar.set_postfix(loss=f"{self.epoch_loss.mean():.4f}")
        return losses

    def progress_bar(self, first: int):
        """--progress: a bar for this epoch instead of the Train Epoch lines (rank 0)."""
        if not (self.settings.progress and distributed.is_main()):
            return None
        from tqdm import tqdm
        return tqdm(total=self.num_batches, initial=first, desc=f"Epoch {self.epoch}",
                    unit="batch", leave=True)

    def test_between(self, batches: int) -> bool:
        """A test pass after `batches` batches (its line goes where the bar was); True to stop."""
        if self.bar is not None and batches < self.num_batches:
            self.bar.clear()  # the bar comes back below the test line
        stop = self.test(batches)
        if self.bar is not None:
            self.bar.refresh()
        return stop

    def test(self, batches: int) -> bool:
        """A test pass after `batches` batches of this epoch: print, record, save; True to stop."""
        s = self.settings
        distributed.broadcast_buffers(self.model)
        test_loss, correct = common.test(self.tester, self.test_data, s.test_batch_size)
        at = Position(self.epoch - 1, batches)
        self.metrics.append({"epoch": at.epochs(self.num_batches),
                             "train_loss": self.test_loss.mean(), "test_loss": test_loss,
                             "test_accuracy": 100.0 * correct / len(self.test_data),
                             "seconds": time.perf_counter() - self.since,
                             "lr": self.optimizer.param_groups[0]["lr"]})
        self.test_loss = LossSum()
        self.last_step = self.step(at)
        self.save(batches)  # first: a TensorBoard folder on a full disk keeps this checkpoint
        if self.board:
            self.board.test_pass(self.metrics[-1], self.last_step)
        self.reached = bool(s.target_accuracy) and (
            self.metrics[-1]["test_accuracy"] >= s.target_accuracy)
        self.since = time.perf_counter()
        return self.reached

    def save(self, batches: int) -> None:
        """The metrics so far, and the whole state after `batches` batches of this epoch (at
        a test pass, or where the page asked for it)."""
        s = self.settings
        if not (s.checkpoint or s.metrics):
            return
        ended = batches == self.num_batches
        state = None
        if s.checkpoint:  # every rank: it gathers their random states
            state = checkpoints.make_checkpoint(
                self.network, self.model, self.optimizer, self.scheduler, self.generator,
                self.epoch if ended else self.epoch - 1, s.as_dict(), self.metrics,
                self.num_batches, batch=0 if ended else batches, order_state=self.order_state,
                losses={"test": self.test_loss.as_list(), "epoch": self.epoch_loss.as_list()})

        def write() -> None:
            if s.metrics:
                report.write_metrics(s.metrics, self.metrics)
            if state is not None:
                checkpoints.atomic_save(state, s.checkpoint)

        with interrupts.deferred_interrupt():  # a signal waits until the file and `saved` agree
            self.on_main(write)  # no rank runs ahead of the files on disk
            if state is not None:
                self.saved = Position(self.epoch - 1, batches).epochs(self.num_batches)

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
        """The summary line, then the trained weights and the plot (rank 0)."""
        s, metrics = self.settings, self.metrics
        ran = metrics[-1]["epoch"] - self.start.epochs(self.num_batches)
        best = max(metrics, key=lambda r: r["test_accuracy"])
        target = ""
        if s.target_accuracy:
            target = (f", target {s.target_accuracy:.2f}% "
                      f"{'reached' if self.reached else 'not reached'}")
        self.summary = (f"Finished: {ran:g} epochs in {seconds:.1f} s ({seconds / ran:.2f} "
                        f"s/epoch), best accuracy {best['test_accuracy']:.2f}% at epoch "
                        f"{best['epoch']}, final {metrics[-1]['test_accuracy']:.2f}%{target}")
        print(self.summary)
        try:
            self.on_main(self.write_results)
        except UserError as e:
            raise UserError(f"{e}{self.kept()}") from None

    def write_results(self) -> None:
        """What the run was asked to leave: weights, plot, TensorBoard's figures, ONNX."""
        s = self.settings
        if s.save_model:
            checkpoints.save_weights(self.model, s.save_model, self.network)
        if s.plot or self.board:
            predictions = report.predictions(self.model, self.test_data, s.test_batch_size)
            if s.plot:
                report.plot(s.plot, self.metrics, self.model, self.test_data, predictions,
                            f"{self.network}: {self.metrics[-1]['epoch']} epochs")
            if self.board:
                self.board.end(self.model, self.test_data, predictions, self.last_step)
        if s.export_onnx:
            export.export_onnx(self.model, s.export_onnx, self.test_data, s.test_batch_size)

    def kept(self) -> str:
        """What a stopped run leaves behind, for the last line it prints."""
        if not self.settings.checkpoint:
            return ""
        if not self.saved:
            if len(self.metrics) > (len(self.resumed["metrics"]) if self.resumed else 0):
                return f"; no checkpoint could be written to {self.settings.checkpoint}"
            return f"; no test pass had run, so {self.settings.checkpoint} was not written"
        return (f"; {self.settings.checkpoint} holds epoch {self.saved:g}: continue with "
                f"--resume {self.settings.checkpoint}")
