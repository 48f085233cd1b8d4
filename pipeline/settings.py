"""The settings of a run, resolved once: the recipe, then the flags typed on the command
line, then (on --resume) the checkpoint's. The result is one frozen object, passed down and
never rewritten."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from . import checkpoints, distributed, recipes
from .errors import UserError


@dataclasses.dataclass(frozen=True)
class Settings:
    # the recipe (--recipe, then each setting's own flag)
    recipe: str
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    optimizer: str
    weight_decay: float
    grad_clip: float  # 0: off
    schedule: str
    augment: int  # shift, pixels
    rotate: float
    scale: float
    shear: float
    thickness: float
    pen_digits: str  # "none", "all" or institutions joined by commas (pipeline/pens.py)
    schedule_epochs: int  # the horizon of --schedule onecycle: the epochs first planned
    # training
    target_accuracy: float | None
    evals_per_epoch: int
    test_batch_size: int
    seed: int
    device: str
    data_dir: str
    log_interval: int
    dry_run: bool
    save_model: str | None
    amp: bool
    compile: bool
    deterministic: bool
    # save, resume, reuse
    checkpoint: str | None
    resume: str | None
    load: str | None
    evaluate: bool
    predict: list[str] | None
    export_onnx: str | None
    # look at the run, see inside
    tensorboard: str | None
    metrics: str | None
    plot: str | None
    summary: bool
    progress: bool
    explain: str | None
    serve: bool
    compare: list[str] | None  # SCRIPT WEIGHTS
    host: str
    port: int
    typed: tuple[str, ...] = ()  # the settings typed on this command line

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for a checkpoint (which carries the settings that produced it)."""
        return dataclasses.asdict(self)


# what a resumed run takes from its checkpoint unless typed again
RESUMED = ("recipe", *recipes.LECTURE, "test_batch_size", "seed", "schedule_epochs", "amp",
           "evals_per_epoch")


def typed_flags(parser: argparse.ArgumentParser, argv: list[str], names: list[str]) -> set[str]:
    """The settings typed on the command line: argv parsed again into a namespace where every
    setting is already there, unset, so that argparse fills in only what was typed."""
    unset = object()
    namespace = argparse.Namespace(**{name: unset for name in names})
    parser.parse_args(argv, namespace=namespace)
    return {name for name, value in vars(namespace).items() if value is not unset}


def resolve(args: argparse.Namespace, typed: set[str], network: str, fast: dict | None,
            default_recipe: str) -> tuple[Settings, dict[str, Any] | None]:
    """The run's Settings, and the checkpoint it resumes (None when it starts afresh)."""
    values = vars(args).copy()
    if (distributed.restarted() and not values["resume"] and values["checkpoint"]
            and os.path.exists(values["checkpoint"])):
        values["resume"] = values["checkpoint"]  # torchrun --max-restarts: carry on
        typed = typed - set(RESUMED)  # from the last test pass, exactly as it was
    resumed = checkpoints.read_checkpoint(values["resume"], network) if values["resume"] \
        else None
    saved = resumed["args"] if resumed else {}
    if saved and values["recipe"] and values["recipe"] != saved["recipe"]:
        raise UserError(f"--recipe {values['recipe']}: {values['resume']} was trained with "
                        f"--recipe {saved['recipe']}, which a resumed run keeps; type a setting "
                        f"again to change it (--lr, --epochs, ...), or start afresh")
    for key in ("optimizer", "schedule") if saved else ():
        if key in typed and values[key] != saved.get(key, values[key]) and not (
                {values[key], saved[key]} <= {"sgd", "nesterov"}):  # one optimiser, two ways
            raise UserError(f"--{key} {values[key]}: {values['resume']} was trained with "
                            f"--{key} {saved[key]}, whose state a resumed run cannot carry over "
                            f"to {values[key]}; resume without --{key}, or start afresh")
    values["recipe"] = values["recipe"] or saved.get("recipe") or default_recipe
    for key, value in recipes.values(values["recipe"], fast).items():
        if values[key] is None:
            values[key] = value
    values["schedule_epochs"] = values["epochs"]
    if values["evals_per_epoch"] is None:
        values["evals_per_epoch"] = 4 if values["target_accuracy"] else 1
    if resumed:
        resume_values(values, typed, saved)
    return Settings(**values, typed=tuple(sorted(typed))), resumed


def resume_values(values: dict[str, Any], typed: set[str], saved: dict[str, Any]) -> None:
    """A resumed run keeps the checkpoint's settings, except those typed again on this line."""
    overridden = []
    saved = {"pen_digits": "none", "grad_clip": 0.0, **saved}  # one from before these flags
    for key in RESUMED:
        if key not in saved or key == "recipe":
            continue
        if key not in typed:
            values[key] = saved[key]
        elif values[key] != saved[key] and key != "epochs":  # more epochs is what resuming is for
            overridden.append(f"--{key.replace('_', '-')} {saved[key]} -> {values[key]}")
    if overridden:
        print(f"note: resuming with {', '.join(overridden)}", file=sys.stderr)
