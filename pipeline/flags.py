"""The flags, built from the settings' table (pipeline/settings.py), the checks of their
combinations, and the run's settings resolved once from a command line: the recipe, then the
flags typed, then (on --resume) the checkpoint's."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from typing import Any, Callable

from torch import nn

from . import checkpoints, distributed, files, measured, recipes, report
from .errors import UserError
from .run import network_name
from .settings import GROUPS, OLDER, RESUMED, TABLE, Settings, clash, fits, shown


def make_parser(description: str | None) -> argparse.ArgumentParser:
    """Every script's flags, from the settings' table, in its groups; the help states each
    default."""
    p = argparse.ArgumentParser(description=description, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for name, (default, flag) in TABLE.items():
        if flag.typed:
            text = flag.help.format(handwriting=recipes.typed(recipes.HANDWRITING))
            how = {"action": "store_true"} if isinstance(default, bool) else {
                "type": flag.type, "choices": flag.choices, "metavar": flag.metavar,
                "nargs": flag.nargs, "default": None if flag.later else default}
            groups[flag.group].add_argument(f"--{name.replace('_', '-')}",
                                            help=f"{text} (default: {shown(default, flag)})",
                                            **{k: v for k, v in how.items() if v is not None})
    return p


OUTPUTS = ("save_model", "checkpoint", "metrics", "plot", "export_onnx")  # files a run writes


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Combinations that cannot work are usage errors (exit 2) before anything runs."""
    if (args.evaluate or args.predict) and not args.load:
        p.error("--evaluate and --predict need --load PATH (the weights to use)")
    if args.resume and args.load:
        p.error("--resume continues a run with its own weights; leave out --load")
    if args.onnxruntime and not args.export_page:
        p.error("--onnxruntime gives --export-page its runtime: it needs --export-page DIR")
    if args.export_page and os.path.exists(args.export_page) and not os.path.isdir(args.export_page):
        p.error(f"--export-page {args.export_page}: not a folder")
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
    if args.load and (args.evaluate or args.predict or args.export_onnx or args.export_page):
        p.error("--tensorboard records a training run; with --load it needs no --evaluate, "
                "--predict, --export-onnx or --export-page")
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
    problem = clash(settings.as_dict())
    if problem:
        p.error(problem)


def settings_of(net_factory: Callable[[], nn.Module], fast: dict | None, default_recipe: str,
                description: str | None, argv: list[str]) -> tuple[Settings, dict | None]:
    """The run's settings from its command line, resolved once, and the checkpoint it resumes."""
    network = network_name(net_factory)
    reached = measured.reaches(network)
    parser = make_parser(f"{description}\n{textwrap.fill(reached, 92)}" if description and reached
                         else description)
    args = parser.parse_args(argv)
    check_args(parser, args)
    typed = typed_flags(parser, argv, list(vars(args)))
    settings, resumed = resolve(args, typed, network, fast, default_recipe)
    if resumed:
        check_saved(resumed["args"], settings.resume)
    check_recipe(parser, settings, fast)
    return settings, resumed


def check_saved(saved: dict[str, Any], path: str) -> None:
    """The settings a checkpoint carries are values their own flags take, judged by the
    table's own types and choices: else one line naming the setting."""
    for key in RESUMED:
        if key in saved and not fits(key, saved[key]):
            raise UserError(f"{path}: a damaged checkpoint: its args.{key} ({saved[key]!r}) is "
                            f"not a value --{key.replace('_', '-')} takes")
    problem = clash(saved)
    if problem:
        raise UserError(f"{path}: a damaged checkpoint: its settings cannot run together "
                        f"({problem})")


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
    if saved:
        check_kept(values, typed, saved)
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


def check_kept(values: dict[str, Any], typed: set[str], saved: dict[str, Any]) -> None:
    """What a resumed run cannot change: its recipe, and an optimiser or schedule whose state
    would not carry over."""
    if values["recipe"] and values["recipe"] != saved["recipe"]:
        raise UserError(f"--recipe {values['recipe']}: {values['resume']} was trained with "
                        f"--recipe {saved['recipe']}, which a resumed run keeps; type a setting "
                        f"again to change it (--lr, --epochs, ...), or start afresh")
    for key in ("optimizer", "schedule"):
        if key in typed and values[key] != saved.get(key, values[key]) and not (
                {values[key], saved[key]} <= {"sgd", "nesterov"}):  # one optimiser, two ways
            raise UserError(f"--{key} {values[key]}: {values['resume']} was trained with "
                            f"--{key} {saved[key]}, whose state a resumed run cannot carry over "
                            f"to {values[key]}; resume without --{key}, or start afresh")


def resume_values(values: dict[str, Any], typed: set[str], saved: dict[str, Any]) -> None:
    """A resumed run keeps the checkpoint's settings, except those typed again on this line."""
    overridden = []
    saved = {**OLDER, **saved}  # one from before a setting existed
    for key in RESUMED:
        if key not in saved or key == "recipe":
            continue
        if key not in typed:
            values[key] = saved[key]
        elif values[key] != saved[key] and key != "epochs":  # more epochs is what resuming is for
            overridden.append(f"--{key.replace('_', '-')} {saved[key]} -> {values[key]}")
    if overridden:
        print(f"note: resuming with {', '.join(overridden)}", file=sys.stderr)
