"""Every setting of a run, declared once: its flag, type, default, help, range, whether a
resumed run keeps it, and what a checkpoint from before it gets. The parser and its help
(pipeline/flags.py), the lecture's recipe (pipeline/recipes.py), the resume rules and the check
of a checkpoint's saved settings all read this one table: adding a setting is one entry here
and its use.

A run's settings are resolved once (pipeline/flags.py: the recipe, then the flags typed on the
command line, then a resumed checkpoint's) into one frozen `Settings`, passed down and never
rewritten.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Callable

from . import pens

NOT_NEW = object()  # a setting that older checkpoints have too


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


# the help's groups, in the order --help shows them
GROUPS = {
    "recipe": "training recipe (each of these defaults to the --recipe's value; lecture "
              "values shown)",
    "training": "training",
    "state": "save, resume, reuse",
    "look": "look at the run",
    "inside": "see inside the network",
}


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one setting is typed and kept. `shown`: the help's default where the value alone
    does not say it; `later`: argparse leaves it None and the run resolves it (the recipe's
    settings, and those whose default depends on others); `resumed`: a resumed run keeps the
    checkpoint's value unless typed again; `older`: what a checkpoint from before the setting
    existed resumes with."""
    help: str
    group: str
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | tuple[str, ...] | None = None
    nargs: str | int | None = None
    shown: str | None = None
    later: bool = False
    resumed: bool = False
    older: Any = NOT_NEW
    typed: bool = True  # a flag of the command line (False: derived by the run)


def setting(default: Any, help: str = "", group: str = "recipe", **how: Any) -> Any:
    """One entry of the table: a field of `Settings` with its `Flag` as metadata; a recipe
    setting's default is the lecture's, kept by a resumed run."""
    if group == "recipe":
        how = {"later": True, "resumed": True, **how}
    return dataclasses.field(default=default, metadata={"flag": Flag(help, group, **how)})


@dataclasses.dataclass(frozen=True)
class Settings:
    # the recipe (--recipe, then each setting's own flag); the defaults are the lecture's
    recipe: str = setting(
        "lecture", "lecture: the lecture's settings; fast: tuned per network for accuracy per "
        "second; handwriting: fast for twice the epochs with {handwriting}, for people's digits",
        choices=("lecture", "fast", "handwriting"),
        shown="lecture for simple_cnn.py and inception_cnn.py, fast for the exercise networks")
    epochs: int = setting(10, "number of epochs to train", type=positive_int, metavar="N")
    batch_size: int = setting(64, "training batch size per process", type=positive_int,
                              metavar="N")
    lr: float = setting(0.01, "learning rate; the peak one with --schedule onecycle",
                        type=positive_float, metavar="LR")
    momentum: float = setting(0.5, "SGD momentum, from 0 up to (not including) 1",
                              type=_number(float, 0.0, True, 1.0, False), metavar="M")
    optimizer: str = setting("sgd", "sgd, SGD with Nesterov momentum, or AdamW",
                             choices=("sgd", "nesterov", "adamw"))
    weight_decay: float = setting(0.0, "weight decay", type=nonnegative_float, metavar="WD")
    grad_clip: float = setting(  # 0: off
        0.0, "before each step, scale the gradients down to a total norm of at most NORM "
        "(clip_grad_norm_); 0 is off", type=nonnegative_float, metavar="NORM", older=0.0)
    schedule: str = setting(
        "constant", "constant learning rate, or a 20%% warm-up then cosine decay over the run's "
        "epochs", choices=("constant", "onecycle"))
    augment: int = setting(  # shift, pixels
        0, "shift each training image by up to PIXELS in x and y; 0 is off",
        type=_number(int, 0, True, 27, True), metavar="PIXELS")
    rotate: float = setting(0.0, "rotate each training image by up to DEG degrees either way",
                            type=_number(float, 0.0, True, 180.0, True), metavar="DEG")
    scale: float = setting(0.0, "make each training image up to FRAC larger or smaller, e.g. 0.1",
                           type=_number(float, 0.0, True, 0.9, True), metavar="FRAC")
    shear: float = setting(0.0, "slant each training image by up to DEG degrees either way",
                           type=_number(float, 0.0, True, 60.0, True), metavar="DEG")
    thickness: float = setting(
        0.0, "make each training image's ink up to PIXELS (at most 2) bolder on each side, or "
        "up to half of that thinner", type=_number(float, 0.0, True, 2.0, True),
        metavar="PIXELS")
    pen_digits: str = setting(  # "none", "all" or institutions joined by commas
        "none", "add people's pen digits (data/unipen/) to the training set, drawn as pictures "
        "with a new pen width each epoch: all, none, or institutions joined by commas "
        f"({','.join(pens.SOURCES)})", type=pen_sources, metavar="SOURCES", older="none")
    # the horizon of --schedule onecycle: the epochs first planned
    schedule_epochs: int = setting(10, type=positive_int, typed=False)
    # training
    target_accuracy: float | None = setting(
        None, "stop as soon as the test accuracy reaches PCT", "training",
        type=_number(float, 0.0, False, 100.0, True), metavar="PCT", shown="run all epochs")
    evals_per_epoch: int = setting(
        1, "test passes per epoch, evenly spaced, the last at its end", "training",
        type=positive_int, metavar="N", shown="4 with --target-accuracy, else 1", later=True,
        resumed=True)
    test_batch_size: int = setting(1000, "test batch size", "training", type=positive_int,
                                   metavar="N", resumed=True)
    seed: int = setting(1, "random seed, any 64-bit integer: weights and batch order",
                        "training", type=seed_int, metavar="S", resumed=True)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps; auto takes CUDA, then MPS, "
                          "else CPU", "training")
    data_dir: str = setting("./data", "folder holding MNIST/raw; downloaded there if missing",
                            "training", metavar="DIR")
    log_interval: int = setting(10, "batches between training log lines", "training",
                                type=positive_int, metavar="N")
    dry_run: bool = setting(False, "one logged batch and a short test pass, for smoke runs",
                            "training")
    save_model: str | None = setting(
        None, "write the trained weights here: a state_dict (.pt), or tensors only with no "
        "pickle (.safetensors)", "training", metavar="PATH", shown="not saved")
    amp: bool = setting(False, "bf16 autocast, for CPUs with AVX-512 BF16 or AMX and for CUDA",
                        "training", shown="off, fp32", resumed=True)
    compile: bool = setting(False, "torch.compile the network; meant for CUDA, slower on the "
                            "CPUs measured here", "training")
    deterministic: bool = setting(
        False, "deterministic kernels only (torch.use_deterministic_algorithms, cuDNN and "
        "cuBLAS settings), so that two runs on one GPU print the same lines; CPU runs already "
        "do", "training")
    # save, resume, reuse
    checkpoint: str | None = setting(
        None, "after every test pass (every epoch unless --evals-per-epoch), write the whole "
        "training state here, atomically", "state", metavar="PATH")
    resume: str | None = setting(
        None, "continue the run saved in this checkpoint up to --epochs, with its settings "
        "unless given again here", "state", metavar="PATH", shown="start afresh")
    load: str | None = setting(
        None, "weights to start from: a --save-model file (.pt or .safetensors) or a "
        "checkpoint", "state", metavar="PATH")
    evaluate: bool = setting(False, "with --load: print the test-set line for those weights, "
                             "train nothing", "state")
    predict: list[str] | None = setting(
        None, "with --load: classify your own pictures of digits (PNG, JPEG), one line per "
        "file; no data needed", "state", metavar="IMAGE", nargs="+")
    export_onnx: str | None = setting(
        None, "export the trained network (or, with --load, those weights, training nothing) "
        "to ONNX, checked with onnxruntime on the test set", "state", metavar="PATH.onnx")
    export_page: str | None = setting(
        None, "write the trained network's page (or, with --load, those weights') as a static "
        "site for any browser: the network run by onnxruntime-web, no Python behind it",
        "state", metavar="DIR")
    onnxruntime: str | None = setting(
        None, "with --export-page: onnxruntime-web's npm package, unpacked, instead of npm "
        "fetching it (and keeping it in ~/.cache/lecture10)", "state", metavar="FOLDER")
    # look at the run
    tensorboard: str | None = setting(
        None, "TensorBoard logs here: the metrics at every test pass; the plot's figures, "
        "weight histograms and the graph at the end", "look", metavar="DIR")
    metrics: str | None = setting(
        None, "one CSV row per test pass (per epoch unless --evals-per-epoch): epoch, "
        "train_loss, test_loss, test_accuracy, seconds, lr", "look", metavar="PATH.csv")
    plot: str | None = setting(None, "curves, confusion matrix, mistakes and first-layer "
                               "filters", "look", metavar="PATH.png")
    summary: bool = setting(False, "print each layer's output shape and parameters, then "
                            "exit; no data", "look")
    progress: bool = setting(False, "a live progress bar per epoch instead of the Train Epoch "
                             "lines", "look")
    # see inside the network
    explain: str | None = setting(
        None, "with --load or after training: the prediction for this picture and each "
        "layer's output shape; with --plot, a picture of every layer's feature maps", "inside",
        metavar="IMAGE")
    serve: bool = setting(
        False, "a local web page to draw digits on and watch each layer: of --load's weights, "
        "or, while it trains, the run's loss, accuracy, filters and mistakes live, with pause "
        "and save now, then the trained network; until Ctrl-C", "inside")
    compare: list[str] | None = setting(  # SCRIPT WEIGHTS
        None, "with --serve: a second network beside this one on the page, e.g. inception_cnn "
        "net.pt: both read the drawing and move with the sliders", "inside",
        metavar=("SCRIPT", "WEIGHTS"), nargs=2)
    host: str = setting("127.0.0.1", "the address --serve listens on", "inside",
                        shown="127.0.0.1, this machine only")
    port: int = setting(8000, "the port --serve listens on; 0 takes a free one", "inside",
                        type=_number(int, 0, True, 65535, True))
    typed: tuple[str, ...] = ()  # the settings typed on this command line

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for a checkpoint (which carries the settings that produced it)."""
        return dataclasses.asdict(self)


TABLE: dict[str, tuple[Any, Flag]] = {
    f.name: (f.default, f.metadata["flag"]) for f in dataclasses.fields(Settings)
    if "flag" in f.metadata}
# what a resumed run takes from its checkpoint unless typed again
RESUMED = tuple(name for name, (_, flag) in TABLE.items() if flag.resumed)
# what a checkpoint from before a setting existed resumes with
OLDER = {name: flag.older for name, (_, flag) in TABLE.items() if flag.older is not NOT_NEW}


def shown(default: Any, flag: Flag) -> str:
    """The help's "(default: ...)": the value as typed on a command line."""
    if flag.shown is not None:
        return flag.shown
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def fits(name: str, value: Any) -> bool:
    """Whether `value` is one that the setting's own flag takes, typed exactly (a
    checkpoint's saved setting is judged by this)."""
    default, flag = TABLE[name]
    if isinstance(default, bool):
        return type(value) is bool
    if type(value) not in (int, float, str):
        return False
    try:
        parsed = (flag.type or str)(str(value))
    except (argparse.ArgumentTypeError, ValueError):
        return False
    return parsed == value and (flag.choices is None or value in flag.choices)


def clash(values: dict[str, Any]) -> str | None:
    """Settings each valid alone that cannot run together: what is wrong, else None."""
    if values.get("optimizer") == "nesterov" and values.get("momentum") == 0:
        return "--optimizer nesterov needs --momentum above 0"
    return None
