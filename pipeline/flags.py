"""The flags: their types and help, the checks of their combinations, and the run's settings
resolved once from a command line (pipeline/settings.py), a resumed checkpoint's included."""
from __future__ import annotations

import argparse
import math
import os
from typing import Any, Callable

from torch import nn

from . import checkpoints, files, pens, report
from .errors import UserError
from .run import network_name
from .settings import RESUMED, Settings, resolve, typed_flags


def _number(kind: type, low: float, low_ok: bool, high: float = math.inf,
            high_ok: bool = True) -> Callable[[str], Any]:
    """An argparse type: `kind` (int or float), finite, above `low` and below `high`
    (each bound allowed itself where its `_ok` says so)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}")
        too_low = value < low or (value == low and not low_ok)
        too_high = value > high or (value == high and not high_ok)
        if not math.isfinite(value) or too_low or too_high:
            bounds = f"{'>=' if low_ok else '>'} {low}"
            if high != math.inf:
                bounds += f" and {'<=' if high_ok else '<'} {high}"
            raise argparse.ArgumentTypeError(f"{text} must be {bounds}")
        return value
    parse.__name__ = kind.__name__
    return parse


positive_int = _number(int, 1, True)
positive_float = _number(float, 0.0, False)
nonnegative_float = _number(float, 0.0, True)
# torch.manual_seed takes any 64-bit integer, signed or unsigned
seed_int = _number(int, -2**63, True, 2**64 - 1, True)


def make_parser(description: str | None) -> argparse.ArgumentParser:
    """Every script's flags, in four groups; the help text states each default."""
    p = argparse.ArgumentParser(description=description, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_flags(p)
    add_training_flags(p)
    add_state_flags(p)
    add_look_flags(p)
    add_inside_flags(p)
    return p


def add_recipe_flags(p: argparse.ArgumentParser) -> None:
    recipe = p.add_argument_group(
        "training recipe (each of these defaults to the --recipe's value; lecture values shown)")
    recipe.add_argument("--recipe", choices=("lecture", "fast", "handwriting"), default=None,
                        help="lecture: the lecture's settings; fast: tuned per network for "
                             "accuracy per second; handwriting: fast for twice the epochs with "
                             "--rotate 10 --scale 0.1 --shear 10 --thickness 1 --pen-digits "
                             "all, for people's digits (default: lecture for simple_cnn.py and "
                             "inception_cnn.py, fast for the exercise networks)")
    recipe.add_argument("--epochs", type=positive_int, metavar="N",
                        help="number of epochs to train (default: 10)")
    recipe.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="training batch size per process (default: 64)")
    recipe.add_argument("--lr", type=positive_float, metavar="LR",
                        help="learning rate; the peak one with --schedule onecycle "
                             "(default: 0.01)")
    recipe.add_argument("--momentum", type=_number(float, 0.0, True, 1.0, False), metavar="M",
                        help="SGD momentum, from 0 up to (not including) 1 (default: 0.5)")
    recipe.add_argument("--optimizer", choices=("sgd", "nesterov", "adamw"),
                        help="sgd, SGD with Nesterov momentum, or AdamW (default: sgd)")
    recipe.add_argument("--weight-decay", type=nonnegative_float, metavar="WD",
                        help="weight decay (default: 0)")
    recipe.add_argument("--grad-clip", type=nonnegative_float, metavar="NORM",
                        help="before each step, scale the gradients down to a total norm of "
                             "at most NORM (clip_grad_norm_); 0 is off (default: 0)")
    recipe.add_argument("--schedule", choices=("constant", "onecycle"),
                        help="constant learning rate, or a 20%% warm-up then cosine decay over "
                             "the run's epochs (default: constant)")
    recipe.add_argument("--augment", type=_number(int, 0, True, 27, True), metavar="PIXELS",
                        help="shift each training image by up to PIXELS in x and y; 0 is off "
                             "(default: 0)")
    recipe.add_argument("--rotate", type=_number(float, 0.0, True, 180.0, True), metavar="DEG",
                        help="rotate each training image by up to DEG degrees either way "
                             "(default: 0)")
    recipe.add_argument("--scale", type=_number(float, 0.0, True, 0.9, True), metavar="FRAC",
                        help="make each training image up to FRAC larger or smaller, e.g. 0.1 "
                             "(default: 0)")
    recipe.add_argument("--shear", type=_number(float, 0.0, True, 60.0, True), metavar="DEG",
                        help="slant each training image by up to DEG degrees either way "
                             "(default: 0)")
    recipe.add_argument("--thickness", type=_number(float, 0.0, True, 2.0, True),
                        metavar="PIXELS", help="make each training image's ink up to PIXELS "
                        "(at most 2) bolder on each side, or up to half of that thinner "
                        "(default: 0)")
    recipe.add_argument("--pen-digits", type=pen_sources, metavar="SOURCES",
                        help="add people's pen digits (data/unipen/) to the training set, drawn "
                             "as pictures with a new pen width each epoch: all, none, or "
                             f"institutions joined by commas ({','.join(pens.SOURCES)}) "
                             "(default: none)")


def pen_sources(text: str) -> str:
    """--pen-digits: "all", "none" or institutions joined by commas, written the one way a
    checkpoint keeps them (in the file's order; all six is "all")."""
    names = {n.strip() for n in text.split(",")} - {""}
    if names in ({"all"}, {"none"}):
        return names.pop()
    unknown = sorted(names - set(pens.SOURCES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give all, none, or some of {', '.join(pens.SOURCES)} joined by commas")
    return "all" if names == set(pens.SOURCES) else ",".join(
        s for s in pens.SOURCES if s in names)


def add_training_flags(p: argparse.ArgumentParser) -> None:
    train = p.add_argument_group("training")
    train.add_argument("--target-accuracy", type=_number(float, 0.0, False, 100.0, True),
                       metavar="PCT",
                       help="stop as soon as the test accuracy reaches PCT (default: run all "
                            "epochs)")
    train.add_argument("--evals-per-epoch", type=positive_int, metavar="N",
                       help="test passes per epoch, evenly spaced, the last at its end "
                            "(default: 4 with --target-accuracy, else 1)")
    train.add_argument("--test-batch-size", type=positive_int, default=1000, metavar="N",
                       help="test batch size (default: 1000)")
    train.add_argument("--seed", type=seed_int, default=1, metavar="S",
                       help="random seed, any 64-bit integer: weights and batch order "
                            "(default: 1)")
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
                       help="write the trained weights here: a state_dict (.pt), or tensors "
                            "only with no pickle (.safetensors) (default: not saved)")
    train.add_argument("--amp", action="store_true",
                       help="bf16 autocast, for CPUs with AVX-512 BF16 or AMX and for CUDA "
                            "(default: off, fp32)")
    train.add_argument("--compile", action="store_true",
                       help="torch.compile the network; meant for CUDA, slower on the CPUs "
                            "measured here (default: off)")
    train.add_argument("--deterministic", action="store_true",
                       help="deterministic kernels only (torch.use_deterministic_algorithms, "
                            "cuDNN and cuBLAS settings), so that two runs on one GPU print the "
                            "same lines; CPU runs already do (default: off)")


def add_state_flags(p: argparse.ArgumentParser) -> None:
    state = p.add_argument_group("save, resume, reuse")
    state.add_argument("--checkpoint", metavar="PATH",
                       help="after every test pass (every epoch unless --evals-per-epoch), "
                            "write the whole training state here, atomically (default: none)")
    state.add_argument("--resume", metavar="PATH",
                       help="continue the run saved in this checkpoint up to --epochs, with its "
                            "settings unless given again here (default: start afresh)")
    state.add_argument("--load", metavar="PATH",
                       help="weights to start from: a --save-model file (.pt or .safetensors) "
                            "or a checkpoint (default: none)")
    state.add_argument("--evaluate", action="store_true",
                       help="with --load: print the test-set line for those weights, train "
                            "nothing (default: off)")
    state.add_argument("--predict", nargs="+", metavar="IMAGE",
                       help="with --load: classify your own pictures of digits (PNG, JPEG), "
                            "one line per file; no data needed (default: none)")
    state.add_argument("--export-onnx", metavar="PATH.onnx",
                       help="export the trained network (or, with --load, those weights, "
                            "training nothing) to ONNX, checked with onnxruntime on the test "
                            "set (default: none)")


def add_look_flags(p: argparse.ArgumentParser) -> None:
    look = p.add_argument_group("look at the run")
    look.add_argument("--tensorboard", metavar="DIR",
                      help="TensorBoard logs here: the metrics at every test pass; the plot's "
                           "figures, weight histograms and the graph at the end (default: none)")
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


def add_inside_flags(p: argparse.ArgumentParser) -> None:
    look = p.add_argument_group("see inside the network")
    look.add_argument("--explain", metavar="IMAGE",
                      help="with --load or after training: the prediction for this picture and "
                           "each layer's output shape; with --plot, a picture of every layer's "
                           "feature maps (default: none)")
    look.add_argument("--serve", action="store_true",
                      help="a local web page to draw digits on and watch each layer: of --load's "
                           "weights, or, while it trains, the run's loss, accuracy, filters and "
                           "mistakes live, with pause and save now, then the trained network; "
                           "until Ctrl-C (default: off)")
    look.add_argument("--compare", nargs=2, metavar=("SCRIPT", "WEIGHTS"),
                      help="with --serve: a second network beside this one on the page, "
                           "e.g. inception_cnn net.pt: both read the drawing and move with "
                           "the sliders (default: none)")
    look.add_argument("--host", default="127.0.0.1",
                      help="the address --serve listens on (default: 127.0.0.1, this machine "
                           "only)")
    look.add_argument("--port", type=_number(int, 0, True, 65535, True), default=8000,
                      help="the port --serve listens on; 0 takes a free one (default: 8000)")


OUTPUTS = ("save_model", "checkpoint", "metrics", "plot", "export_onnx")  # files a run writes


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations that cannot work are usage errors (exit 2) before anything runs."""
    if (args.evaluate or args.predict) and not args.load:
        p.error("--evaluate and --predict need --load PATH (the weights to use)")
    if args.resume and args.load:
        p.error("--resume continues a run with its own weights; leave out --load")
    if args.compare and not args.serve:
        p.error("--compare puts a second network on the page: it needs --serve")
    if args.explain and not os.path.isfile(args.explain):
        p.error(f"--explain {args.explain}: no such file")
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        p.error(f"--data-dir {args.data_dir}: not a folder (give the folder that holds MNIST/raw)")
    given = {}
    for flag in OUTPUTS:
        path = getattr(args, flag)
        if path is None:
            continue
        name = f"--{flag.replace('_', '-')}"
        problem = files.check_writable(path)
        if problem:
            p.error(f"{name} {path}: {problem}")
        same = given.setdefault(os.path.realpath(path), name)
        if same != name:
            p.error(f"{same} and {name} both write {path}; give each its own file")
    if args.checkpoint and checkpoints.is_safetensors(args.checkpoint):
        p.error(f"--checkpoint {args.checkpoint}: a checkpoint holds the optimiser and random "
                f"states, which safetensors cannot; use .pt (--save-model can be .safetensors)")
    if args.tensorboard:
        check_tensorboard(p, args)
    if args.plot and report.plot_format(args.plot) not in report.plot_formats():
        p.error(f"--plot {args.plot}: matplotlib cannot write .{report.plot_format(args.plot)} "
                f"files; use one of {', '.join(sorted(report.plot_formats()))}")


def check_tensorboard(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.load and (args.evaluate or args.predict or args.export_onnx):
        p.error("--tensorboard records a training run; with --load it needs no --evaluate, "
                "--predict or --export-onnx")
    folder = os.path.abspath(args.tensorboard)
    if os.path.exists(folder) and not os.path.isdir(folder):
        p.error(f"--tensorboard {args.tensorboard}: not a folder")
    existing = folder
    while not os.path.exists(existing):  # SummaryWriter makes the missing folders
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        p.error(f"--tensorboard {args.tensorboard}: {existing} cannot be written")


def check_recipe(p: argparse.ArgumentParser, settings: Settings, fast: dict | None) -> None:
    """What the resolved recipe cannot run is a usage error too."""
    if settings.recipe in ("fast", "handwriting") and not fast:
        p.error(f"--recipe {settings.recipe}: {p.prog} defines no FAST recipe")
    if settings.optimizer == "nesterov" and settings.momentum == 0:
        p.error("--optimizer nesterov needs --momentum above 0")


def settings_of(net_factory: Callable[[], nn.Module], fast: dict | None, default_recipe: str,
                description: str | None, argv: list[str]) -> tuple[Settings, dict | None]:
    """The run's settings from its command line, resolved once, and the checkpoint it resumes."""
    parser = make_parser(description)
    args = parser.parse_args(argv)
    check_args(parser, args)
    typed = typed_flags(parser, argv, list(vars(args)))
    settings, resumed = resolve(args, typed, network_name(net_factory), fast, default_recipe)
    if resumed:
        check_saved(resumed["args"], settings.resume)
    check_recipe(parser, settings, fast)
    return settings, resumed


def check_saved(saved: dict[str, Any], path: str) -> None:
    """The settings a checkpoint carries are values their own flags take, judged by the same
    parser as a typed flag: else one line naming the setting."""
    strict = make_parser(None)
    strict.exit_on_error = False  # an ArgumentError to catch, not a usage message
    for key in RESUMED:
        if key not in saved:
            continue
        value, flag = saved[key], f"--{key.replace('_', '-')}"
        if key == "amp":
            fits = type(value) is bool
        elif key == "schedule_epochs":
            fits = type(value) is int and value > 0
        else:
            try:
                parsed = getattr(strict.parse_args([f"{flag}={value}"]), key)
                fits = type(value) in (int, float, str) and parsed == value
            except argparse.ArgumentError:
                fits = False
        if not fits:
            raise UserError(f"{path}: a damaged checkpoint: its args.{key} ({value!r}) is not "
                            f"a value {flag} takes")
    if saved.get("optimizer") == "nesterov" and saved.get("momentum") == 0:
        raise UserError(f"{path}: a damaged checkpoint: its args.momentum is 0, which "
                        f"--optimizer nesterov (its args.optimizer) cannot use")
