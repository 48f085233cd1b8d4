"""A training run: started or resumed, its epochs, its test passes, its last line."""
from __future__ import annotations

import argparse
import math
import os
import time
from typing import Callable

import torch
from torch import nn

from . import board, checkpoints, distributed, export, interrupts, recipes, report
from .data import Split, load_mnist
from .errors import Interrupted, NonFiniteLoss, UserError
from .loop import evaluate, print_test, train_epoch


def position(epochs: int, batches: int, num_batches: int) -> float:
    """How far a run is, in epochs: 2 after two epochs, 2.25 a quarter into the third."""
    if batches % num_batches == 0:
        return epochs + batches // num_batches
    return round(epochs + batches / num_batches, 2)


class Training:
    """One run of `--epochs`, from scratch or from `--resume`.

    Its fields are the run's state: how far it is (`epoch`, and `done`/`into` where it started),
    the metrics so far, what the file at --checkpoint holds (`saved`, in epochs), and whether
    the target accuracy was `reached`. Each test pass updates them.
    """

    def __init__(self, network: str, model: nn.Module, device: torch.device,
                 args: argparse.Namespace) -> None:
        self.network, self.model, self.device, self.args = network, model, device, args
        if (distributed.restarted() and not args.resume and args.checkpoint
                and os.path.exists(args.checkpoint)):
            args.resume = args.checkpoint  # torchrun --max-restarts: carry on from the last pass
            args.explicit = [k for k in args.explicit if k not in checkpoints.RESUMED_SETTINGS]
        self.resumed = checkpoints.read_checkpoint(args.resume, network) if args.resume else None
        if self.resumed is not None:
            checkpoints.resume_settings(args, self.resumed["args"])
        self.metrics: list[dict[str, float]] = list(self.resumed["metrics"]) if self.resumed else []
        self.done = self.resumed["epoch"] if self.resumed else 0  # epochs finished
        self.into = self.resumed.get("batch", 0) if self.resumed else 0  # batches of the next
        self.epochs = 1 if args.dry_run else args.epochs
        self.epoch = self.done + 1
        self.reached = False

    def run(self) -> None:
        """Train to the last epoch (or the target), then print the summary and write the files."""
        if self.done >= self.epochs:
            print(f"{self.args.resume} has finished {self.done} of {self.epochs} epochs; nothing "
                  f"to train (raise --epochs to continue)")
            return
        self.set_up()
        try:
            start = time.perf_counter()
            self.train_until_stopped()
            self.finish(time.perf_counter() - start)
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
            where = f"after epoch {self.epoch}" if self.saved == self.epoch else f"in epoch {self.epoch}"
            raise Interrupted(f"{stop.what} {where}{self.kept()}", stop.signum) from None

    def set_up(self) -> None:
        """Data, optimiser, schedule and batch order, restored from the checkpoint if resuming."""
        args, model = self.args, self.model
        self.train_data, self.test_data = load_mnist(args.data_dir, self.device)
        if args.dry_run:
            self.test_data = self.test_data.head(args.test_batch_size)
        self.optimizer = recipes.make_optimizer(model, args)
        per_rank = len(self.train_data) // distributed.world_size()
        self.num_batches = math.ceil(per_rank / args.batch_size)
        if args.evals_per_epoch > self.num_batches:
            raise UserError(f"--evals-per-epoch {args.evals_per_epoch}: an epoch has only "
                            f"{self.num_batches} batches of {args.batch_size} here")
        self.scheduler = recipes.make_scheduler(self.optimizer, args, self.num_batches)
        self.generator = torch.Generator().manual_seed(args.seed)  # the batch order, on the CPU
        if self.resumed is not None:
            checkpoints.restore(self.resumed, model, self.optimizer, self.scheduler,
                                self.generator)
            if "lr" in args.explicit or "momentum" in args.explicit:
                recipes.override_lr(self.optimizer, self.scheduler, args)
        # What the steps run; `model` itself is what is saved, evaluated and restored.
        self.forward = model
        if distributed.active():
            self.forward = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if args.compile:
            self.forward = torch.compile(self.forward)
        # Under torchrun each rank tests its shard with the plain module (DDP's forward would
        # expect the same number of calls on every rank), after taking rank 0's BN statistics.
        self.tester = model if distributed.active() else self.forward
        self.test_at = {round(self.num_batches * k / args.evals_per_epoch)
                        for k in range(1, args.evals_per_epoch + 1)} - {0}
        self.saved = position(self.done, self.into, self.num_batches)  # what the file holds
        self.step = self.done * self.num_batches + self.into  # batches trained, for TensorBoard
        self.board = None
        if args.tensorboard and distributed.is_main():
            self.board = board.Board(args.tensorboard, self.step, self.resumed is not None)

    def train_epochs(self) -> None:
        args = self.args
        for self.epoch in range(self.done + 1, self.epochs + 1):
            self.order_state = self.generator.get_state()  # this epoch's permutation
            train_epoch(self.forward, self.optimizer, self.train_data, self.epoch,
                        args.batch_size, args.log_interval, self.generator,
                        scheduler=self.scheduler, augment=args.augment, amp=args.amp,
                        dry_run=args.dry_run, progress=args.progress and distributed.is_main(),
                        start=self.into if self.epoch == self.done + 1 else 0,
                        test_at=self.test_at, on_test=self.test)
            if self.reached:
                break

    def test(self, batches: int, train_loss: float) -> bool:
        """A test pass after `batches` batches of this epoch: print, record, save; True to stop."""
        args = self.args
        distributed.broadcast_buffers(self.model)
        test_loss, correct, _ = evaluate(self.tester, self.test_data, args.test_batch_size,
                                         amp=args.amp, sharded=distributed.active())
        print_test(test_loss, correct, len(self.test_data))
        self.metrics.append({"epoch": position(self.epoch - 1, batches, self.num_batches),
                             "train_loss": train_loss, "test_loss": test_loss,
                             "test_accuracy": 100.0 * correct / len(self.test_data),
                             "seconds": time.perf_counter() - self.since,
                             "lr": self.optimizer.param_groups[0]["lr"]})
        self.step = (self.epoch - 1) * self.num_batches + batches
        if self.board:
            self.board.test_pass(self.metrics[-1], self.step)
        self.save(batches)
        self.reached = bool(args.target_accuracy) and (
            self.metrics[-1]["test_accuracy"] >= args.target_accuracy)
        self.since = time.perf_counter()
        return self.reached

    def save(self, batches: int) -> None:
        """The metrics so far, and the whole state after `batches` batches of this epoch."""
        args = self.args
        if not (args.checkpoint or args.metrics):
            return
        ended = batches == self.num_batches
        state = None
        if args.checkpoint:  # every rank: it gathers their random states
            state = checkpoints.make_checkpoint(
                self.network, self.model, self.optimizer, self.scheduler, self.generator,
                self.epoch if ended else self.epoch - 1, vars(args), self.metrics,
                batch=0 if ended else batches, order_state=self.order_state)

        def write() -> None:
            if args.metrics:
                report.write_metrics(args.metrics, self.metrics)
            if state is not None:
                checkpoints.atomic_save(state, args.checkpoint)

        with interrupts.deferred_interrupt():  # a signal waits until the file and `saved` agree
            self.on_main(write)  # no rank runs ahead of the files on disk
            if state is not None:
                self.saved = self.metrics[-1]["epoch"]

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
        args, metrics = self.args, self.metrics
        ran = metrics[-1]["epoch"] - position(self.done, self.into, self.num_batches)
        best = max(metrics, key=lambda r: r["test_accuracy"])
        target = ""
        if args.target_accuracy:
            target = (f", target {args.target_accuracy:.2f}% "
                      f"{'reached' if self.reached else 'not reached'}")
        print(f"Finished: {ran:g} epochs in {seconds:.1f} s ({seconds / ran:.2f} s/epoch), "
              f"best accuracy {best['test_accuracy']:.2f}% at epoch {best['epoch']}, "
              f"final {metrics[-1]['test_accuracy']:.2f}%{target}")
        try:
            self.on_main(self.write_results)
        except UserError as e:
            raise UserError(f"{e}{self.kept()}") from None

    def write_results(self) -> None:
        """What the run was asked to leave: weights, plot, TensorBoard's figures, ONNX."""
        args = self.args
        if args.save_model:
            checkpoints.save_weights(self.model, args.save_model, self.network)
        if args.plot or self.board:
            _, _, predictions = evaluate(self.model, self.test_data, args.test_batch_size,
                                         keep_predictions=True)
            if args.plot:
                report.plot(args.plot, self.metrics, self.model, self.test_data, predictions,
                            f"{self.network}: {self.metrics[-1]['epoch']} epochs")
            if self.board:
                self.board.end(self.model, self.test_data, predictions, self.step)
        if args.export_onnx:
            export.export_onnx(self.model, args.export_onnx, self.test_data,
                               args.test_batch_size)

    def kept(self) -> str:
        """What a stopped run leaves behind, for the last line it prints."""
        if not self.args.checkpoint:
            return ""
        if not self.saved:
            if len(self.metrics) > (len(self.resumed["metrics"]) if self.resumed else 0):
                return f"; no checkpoint could be written to {self.args.checkpoint}"
            return f"; no test pass had run, so {self.args.checkpoint} was not written"
        return (f"; {self.args.checkpoint} holds epoch {self.saved:g}: continue with "
                f"--resume {self.args.checkpoint}")


def plot_test(model: nn.Module, test_data: Split, args: argparse.Namespace,
              metrics: list[dict[str, float]], title: str) -> None:
    """The network's predictions on the test set, drawn with the run's curves."""
    _, _, predictions = evaluate(model, test_data, args.test_batch_size, keep_predictions=True)
    report.plot(args.plot, metrics, model, test_data, predictions, title)
