"""The command line, the device, and the run that ties data, loop, checkpoints and reports."""
from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from . import checkpoints, distributed, recipes, report
from .data import Split, load_digit, load_mnist
from .errors import Interrupted, NonFiniteLoss, UserError
from .loop import evaluate, print_test, train_epoch


# ----------------------------------------------------------------------------- command line

def _number(kind: type, low: float, low_ok: bool) -> Callable[[str], Any]:
    """An argparse type: `kind` (int or float), finite, and >= low (or > low)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}")
        if not math.isfinite(value) or value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(f"{text} must be {'>=' if low_ok else '>'} {low}")
        return value
    parse.__name__ = kind.__name__
    return parse


positive_int = _number(int, 1, True)
positive_float = _number(float, 0.0, False)
nonnegative_float = _number(float, 0.0, True)


def make_parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    recipe = p.add_argument_group(
        "training recipe (each of these defaults to the --recipe's value; lecture values shown)")
    recipe.add_argument("--recipe", choices=("lecture", "fast"), default=None,
                        help="lecture: the lecture's settings; fast: tuned per network for "
                             "accuracy per second (default: lecture for simple_cnn.py and "
                             "inception_cnn.py, fast for the exercise networks)")
    recipe.add_argument("--epochs", type=positive_int, metavar="N",
                        help="number of epochs to train (default: 10)")
    recipe.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="training batch size per process (default: 64)")
    recipe.add_argument("--lr", type=positive_float, metavar="LR",
                        help="learning rate; the peak one with --schedule onecycle "
                             "(default: 0.01)")
    recipe.add_argument("--momentum", type=nonnegative_float, metavar="M",
                        help="SGD momentum (default: 0.5)")
    recipe.add_argument("--optimizer", choices=("sgd", "nesterov", "adamw"),
                        help="sgd, SGD with Nesterov momentum, or AdamW (default: sgd)")
    recipe.add_argument("--weight-decay", type=nonnegative_float, metavar="WD",
                        help="weight decay (default: 0)")
    recipe.add_argument("--schedule", choices=("constant", "onecycle"),
                        help="constant learning rate, or a 20%% warm-up then cosine decay over "
                             "the run's epochs (default: constant)")
    recipe.add_argument("--augment", type=_number(int, 0, True), metavar="PIXELS",
                        help="shift each training image by up to PIXELS in x and y; 0 is off "
                             "(default: 0)")

    train = p.add_argument_group("training")
    train.add_argument("--target-accuracy", type=positive_float, metavar="PCT",
                       help="stop as soon as the test accuracy reaches PCT (default: run all "
                            "epochs)")
    train.add_argument("--evals-per-epoch", type=positive_int, metavar="N",
                       help="test passes per epoch, evenly spaced, the last at its end "
                            "(default: 4 with --target-accuracy, else 1)")
    train.add_argument("--test-batch-size", type=positive_int, default=1000, metavar="N",
                       help="test batch size (default: 1000)")
    train.add_argument("--seed", type=int, default=1, metavar="S",
                       help="random seed: weights and batch order (default: 1)")
    train.add_argument("--device", default="auto",
                       help="auto, cpu, cuda, cuda:N or mps; auto takes CUDA, then MPS, else CPU "
                            "(default: auto)")
    train.add_argument("--data-dir", default="./data", metavar="DIR",
                       help="folder holding MNIST/raw; downloaded there if missing "
                            "(default: ./data)")
    train.add_argument("--log-interval", type=positive_int, default=10, metavar="N",
                       help="batches between training log lines (default: 10)")
    train.add_argument("--dry-run", action="store_true",
                       help="one logged batch and a short test pass, for smoke runs "
                            "(default: off)")
    train.add_argument("--save-model", metavar="PATH",
                       help="write the trained state_dict here (default: not saved)")
    train.add_argument("--amp", action="store_true",
                       help="bf16 autocast, for CPUs with AVX-512 BF16 or AMX and for CUDA "
                            "(default: off, fp32)")
    train.add_argument("--compile", action="store_true",
                       help="torch.compile the network; meant for CUDA, slower on the CPUs "
                            "measured here (default: off)")

    state = p.add_argument_group("save, resume, reuse")
    state.add_argument("--checkpoint", metavar="PATH",
                       help="after every test pass (every epoch unless --evals-per-epoch), "
                            "write the whole training state here, atomically (default: none)")
    state.add_argument("--resume", metavar="PATH",
                       help="continue the run saved in this checkpoint up to --epochs, with its "
                            "settings unless given again here (default: start afresh)")
    state.add_argument("--load", metavar="PATH",
                       help="weights to start from: a --save-model file or a checkpoint "
                            "(default: none)")
    state.add_argument("--evaluate", action="store_true",
                       help="with --load: print the test-set line for those weights, train "
                            "nothing (default: off)")
    state.add_argument("--predict", nargs="+", metavar="IMAGE",
                       help="with --load: classify your own pictures of digits (PNG, JPEG), "
                            "one line per file; no data needed (default: none)")

    look = p.add_argument_group("look at the run")
    look.add_argument("--metrics", metavar="PATH.csv",
                      help="one CSV row per test pass (per epoch unless --evals-per-epoch): "
                           "epoch, train_loss, test_loss, test_accuracy, seconds, lr "
                           "(default: none)")
    look.add_argument("--plot", metavar="PATH.png",
                      help="curves, confusion matrix, mistakes and first-layer filters "
                           "(default: none)")
    look.add_argument("--summary", action="store_true",
                      help="print each layer's output shape and parameters, then exit; no data "
                           "(default: off)")
    look.add_argument("--progress", action="store_true",
                      help="a live progress bar per epoch instead of the Train Epoch lines "
                           "(default: off)")
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations that cannot work are usage errors (exit 2) before anything runs."""
    if (args.evaluate or args.predict) and not args.load:
        p.error("--evaluate and --predict need --load PATH (the weights to use)")
    if args.resume and args.load:
        p.error("--resume continues a run with its own weights; leave out --load")
    for flag in ("save_model", "checkpoint", "metrics", "plot"):
        path = getattr(args, flag)
        if path is not None:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                p.error(f"--{flag.replace('_', '-')} {path}: the folder {folder} does not exist")


# ----------------------------------------------------------------------------- device

def pick_device(name: str) -> torch.device:
    """The one place that chooses the device; asking for one that is not here is a UserError.

    Under torchrun, `cuda` and `auto` mean this process's GPU, cuda:LOCAL_RANK.
    """
    if distributed.launched() and name in ("auto", "cuda") and torch.cuda.is_available():
        name = f"cuda:{distributed.local_rank()}"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device name; use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine "
                            f"(torch {torch.__version__}); use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                            f"CUDA device(s), numbered from 0")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UserError(f"--device {name}: MPS (Apple GPU) is not available on this machine; "
                            f"use --device cpu")
    elif device.type != "cpu":
        raise UserError(f"--device {name}: unsupported; use auto, cpu, cuda, cuda:N or mps")
    return device


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a network to the device in channels_last (NHWC), the fast layout for convolutions."""
    return model.to(device=device, memory_format=torch.channels_last)


def network_name(net_factory: Callable[[], nn.Module]) -> str:
    """The script that defines the network: simple_cnn, inception_cnn, ..."""
    return Path(inspect.getfile(net_factory)).stem


# ----------------------------------------------------------------------------- the run

def predict(model: nn.Module, paths: list[str], device: torch.device) -> None:
    images = torch.stack([load_digit(path) for path in paths]).to(device)  # N x 1 x 28 x 28
    model.eval()
    with torch.inference_mode():
        probabilities = model(images).float().exp()
    confidence, digit = probabilities.max(dim=1)
    for path, d, c in zip(paths, digit.tolist(), confidence.tolist()):
        print(f"{path}: {d} ({100.0 * c:.1f}%)")


def test_and_plot(model: nn.Module, test_data: Split, args: argparse.Namespace,
                  metrics: list[dict[str, float]], title: str) -> None:
    """The final network's predictions on the test set, drawn with the run's curves."""
    _, _, predictions = evaluate(model, test_data, args.test_batch_size, keep_predictions=True)
    report.plot(args.plot, metrics, model, test_data, predictions, title)


def run(net_factory: Callable[[], nn.Module], args: argparse.Namespace) -> None:
    network = network_name(net_factory)
    if args.summary:
        print(report.summary(net_factory()))
        return
    device = pick_device(args.device)
    distributed.setup(device)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model = prepare_model(net_factory(), device)
    if distributed.world_size() > 1:
        torch.manual_seed(args.seed + distributed.rank())  # each rank its own augmentation

    if args.load:
        loaded = checkpoints.load_weights(model, args.load, network)
        if args.predict:
            predict(model, args.predict, device)
        if args.evaluate:
            test_data = load_mnist(args.data_dir, device)[1]
            loss, correct, _ = evaluate(model, test_data, args.test_batch_size, amp=args.amp,
                                        sharded=distributed.active())
            print_test(loss, correct, len(test_data))
            if args.plot and distributed.is_main():
                history = loaded["metrics"] if loaded else []
                test_and_plot(model, test_data, args, history, f"{network}: {args.load}")
        if args.predict or args.evaluate:
            return
    train(network, model, device, args)


def fill_recipe(args: argparse.Namespace, network: str) -> None:
    """Every recipe setting not typed on the command line comes from the recipe."""
    args.recipe = args.recipe or recipes.default_recipe(network)
    for key, value in recipes.settings(args.recipe, network).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.schedule_epochs = args.epochs  # the horizon of --schedule onecycle


def make_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    if args.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if args.optimizer == "nesterov" and args.momentum == 0:
        raise UserError("--optimizer nesterov needs --momentum above 0")
    return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                           weight_decay=args.weight_decay, nesterov=args.optimizer == "nesterov")


def make_scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace,
                   steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR | None:
    """None for a constant rate (the lecture's loop stays exactly the lecture's)."""
    if args.schedule == "constant":
        return None
    total = args.schedule_epochs * steps_per_epoch
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: recipes.lr_factor(step, total, args.schedule))


def train(network: str, model: nn.Module, device: torch.device, args: argparse.Namespace) -> None:
    if (distributed.restarted() and not args.resume and args.checkpoint
            and os.path.exists(args.checkpoint)):
        args.resume = args.checkpoint  # torchrun --max-restarts: carry on from the last epoch
        args.explicit = [k for k in args.explicit if k not in RESUMED_SETTINGS]
    checkpoint = checkpoints.read_checkpoint(args.resume, network) if args.resume else None
    if checkpoint is not None:
        resume_settings(args, checkpoint["args"])
    metrics: list[dict[str, float]] = list(checkpoint["metrics"]) if checkpoint else []
    done = checkpoint["epoch"] if checkpoint else 0  # epochs finished
    into = checkpoint.get("batch", 0) if checkpoint else 0  # batches of the next one trained
    epochs = 1 if args.dry_run else args.epochs
    if done >= epochs:
        print(f"{args.resume} has finished {done} of {epochs} epochs; nothing to train "
              f"(raise --epochs to continue)")
        return

    train_data, test_data = load_mnist(args.data_dir, device)
    if args.dry_run:
        test_data = test_data.head(args.test_batch_size)
    optimizer = make_optimizer(model, args)
    per_rank = len(train_data) // distributed.world_size()
    num_batches = math.ceil(per_rank / args.batch_size)
    scheduler = make_scheduler(optimizer, args, num_batches)
    generator = torch.Generator().manual_seed(args.seed)  # the batch order, on the CPU
    if checkpoint is not None:
        checkpoints.restore(checkpoint, model, optimizer, scheduler, generator)
        if "lr" in args.explicit or "momentum" in args.explicit:
            set_lr(optimizer, scheduler, args)
    # What the steps run; `model` itself is what is saved, evaluated and restored.
    forward = model
    if distributed.active():
        forward = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None)
    if args.compile:
        forward = torch.compile(forward)
    # Under torchrun each rank tests its shard with the plain module (DDP's forward would
    # expect the same number of calls on every rank), after taking rank 0's BN statistics.
    tester = model if distributed.active() else forward

    test_at = {round(num_batches * k / args.evals_per_epoch)
               for k in range(1, args.evals_per_epoch + 1)} - {0}
    saved = position(done, into, num_batches)  # what the file at args.checkpoint holds
    epoch = done + 1
    reached = False
    since = start = time.perf_counter()

    def test(batches: int, train_loss: float) -> bool:
        """A test pass after `batches` batches of `epoch`: print, record, save; True to stop."""
        nonlocal saved, reached, since
        distributed.broadcast_buffers(model)
        test_loss, correct, _ = evaluate(tester, test_data, args.test_batch_size,
                                         amp=args.amp, sharded=distributed.active())
        print_test(test_loss, correct, len(test_data))
        ended = batches == num_batches
        metrics.append({"epoch": position(epoch - 1, batches, num_batches),
                        "train_loss": train_loss, "test_loss": test_loss,
                        "test_accuracy": 100.0 * correct / len(test_data),
                        "seconds": time.perf_counter() - since,
                        "lr": optimizer.param_groups[0]["lr"]})
        if args.checkpoint:
            state = checkpoints.make_checkpoint(
                network, model, optimizer, scheduler, generator,
                epoch if ended else epoch - 1, vars(args), metrics,
                batch=0 if ended else batches, order_state=order_state)
            with deferred_interrupt():  # Ctrl-C waits until the file and `saved` agree
                if distributed.is_main():
                    checkpoints.atomic_save(state, args.checkpoint)
                distributed.barrier()  # no rank runs ahead of the file on disk
                saved = metrics[-1]["epoch"]
        if args.metrics and distributed.is_main():
            report.write_metrics(args.metrics, metrics)
        reached = bool(args.target_accuracy) and (
            metrics[-1]["test_accuracy"] >= args.target_accuracy)
        since = time.perf_counter()
        return reached

    try:
        for epoch in range(done + 1, epochs + 1):
            order_state = generator.get_state()  # this epoch's permutation comes from here
            train_epoch(forward, optimizer, train_data, epoch, args.batch_size,
                        args.log_interval, generator, scheduler=scheduler,
                        augment=args.augment, amp=args.amp, dry_run=args.dry_run,
                        progress=args.progress and distributed.is_main(),
                        start=into if epoch == done + 1 else 0, test_at=test_at, on_test=test)
            if reached:
                break
    except NonFiniteLoss as e:
        raise UserError(f"{e}{kept(args, saved)}") from None
    except KeyboardInterrupt:
        where = f"after epoch {epoch}" if saved == epoch else f"in epoch {epoch}"
        raise Interrupted(f"interrupted {where}{kept(args, saved)}") from None
    seconds = time.perf_counter() - start

    ran = metrics[-1]["epoch"] - position(done, into, num_batches)
    best = max(metrics, key=lambda r: r["test_accuracy"])
    target = ""
    if args.target_accuracy:
        target = (f", target {args.target_accuracy:.2f}% "
                  f"{'reached' if reached else 'not reached'}")
    print(f"Finished: {ran:g} epochs in {seconds:.1f} s ({seconds / ran:.2f} s/epoch), "
          f"best accuracy {best['test_accuracy']:.2f}% at epoch {best['epoch']}, "
          f"final {metrics[-1]['test_accuracy']:.2f}%{target}")
    if args.save_model and distributed.is_main():
        checkpoints.atomic_save({k: v.contiguous() for k, v in model.state_dict().items()},
                                args.save_model)
    if args.plot and distributed.is_main():
        test_and_plot(model, test_data, args, metrics, f"{network}: {metrics[-1]['epoch']} epochs")
    distributed.barrier()


# what a resumed run takes from its checkpoint unless typed again
RESUMED_SETTINGS = ("recipe", *recipes.LECTURE, "test_batch_size", "seed", "augment",
                    "schedule_epochs", "amp", "evals_per_epoch")


def resume_settings(args: argparse.Namespace, saved: dict[str, Any]) -> None:
    """A resumed run keeps the checkpoint's settings, except those typed again on this line."""
    overridden = []
    for key in RESUMED_SETTINGS:
        if key == "epochs" or key not in saved:
            continue
        if key not in args.explicit:
            setattr(args, key, saved[key])
        elif getattr(args, key) != saved[key]:
            overridden.append(f"--{key.replace('_', '-')} {saved[key]} -> {getattr(args, key)}")
    if overridden:
        print(f"note: resuming with {', '.join(overridden)}", file=sys.stderr)


def set_lr(optimizer: torch.optim.Optimizer, scheduler: Any, args: argparse.Namespace) -> None:
    """After a restore: a --lr or --momentum typed again replaces the checkpoint's."""
    factor = 1.0
    if scheduler is not None:
        scheduler.base_lrs = [args.lr] * len(optimizer.param_groups)
        factor = scheduler.lr_lambdas[0](scheduler.last_epoch)
    for group in optimizer.param_groups:
        group["lr"] = args.lr * factor
        if "momentum" in group:
            group["momentum"] = args.momentum


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """A Ctrl-C inside the block is held back and raised when the block has finished."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def position(epochs: int, batches: int, num_batches: int) -> float:
    """How far a run is, in epochs: 2 after two epochs, 2.25 a quarter into the third."""
    if batches % num_batches == 0:
        return epochs + batches // num_batches
    return round(epochs + batches / num_batches, 2)


def kept(args: argparse.Namespace, saved: float) -> str:
    """What a stopped run leaves behind, for the last line it prints."""
    if not args.checkpoint:
        return ""
    if not saved:
        return f"; no test pass had run, so {args.checkpoint} was not written"
    return (f"; {args.checkpoint} holds epoch {saved:g}: continue with "
            f"--resume {args.checkpoint}")


def main(net_factory: Callable[[], nn.Module], description: str | None = None,
         argv: list[str] | None = None) -> None:
    """Parse the command line and run; a UserError is one line on stderr (exit 1), Ctrl-C 130."""
    parser = make_parser(description)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    check_args(parser, args)
    # The flags typed on this command line: on --resume they override the checkpoint's.
    flags = {a.split("=")[0] for a in argv if a.startswith("--")}
    args.explicit = sorted(a.dest for a in parser._actions if set(a.option_strings) & flags)
    fill_recipe(args, network_name(net_factory))
    if args.evals_per_epoch is None:
        args.evals_per_epoch = 4 if args.target_accuracy else 1
    try:
        run(net_factory, args)
    except UserError as e:
        where = f"rank {distributed.rank()}: " if distributed.rank() else ""
        print(f"{where}error: {e}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as e:
        print(f"stopped: {e}", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("stopped: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        distributed.cleanup()
