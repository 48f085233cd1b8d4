"""The command line: each script's main() hands its network here.

main() installs the signal handlers first and keeps them to its last line; inside them
command() loads the rest of the tool belt, resolves the settings once (pipeline/flags.py),
hands them to `run.run`, and turns what went wrong into one line and an exit status.
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable

from . import distributed, interrupts, stops
from .errors import Interrupted, UserError

if TYPE_CHECKING:
    from torch import nn


def main(net_factory: Callable[[], nn.Module], fast: dict | None, default_recipe: str,
         description: str | None = None, argv: list[str] | None = None) -> None:
    """Parse the command line and run; a UserError is one line on stderr (exit 1), a usage
    error argparse's (exit 2), a signal a line saying what was kept (exit 128 + N)."""
    try:  # a Ctrl-C while it starts (the tool belt's own loading too) or ends: one line
        with interrupts.handled():  # in place from the first line to the last
            command(net_factory, fast, default_recipe, description, argv)
    except KeyboardInterrupt as e:  # before the handlers were in place, or as it ended
        stopped(e)


def command(net_factory: Callable[[], nn.Module], fast: dict | None, default_recipe: str,
            description: str | None, argv: list[str] | None) -> None:
    """The run, and what went wrong turned into its line and exit status."""
    try:
        from .flags import settings_of
        from .run import run

        argv = sys.argv[1:] if argv is None else argv
        run(net_factory, *settings_of(net_factory, fast, default_recipe, description, argv))
    except (UserError, Interrupted, KeyboardInterrupt) as e:
        stopped(e)
    finally:
        distributed.cleanup()


def stopped(error: BaseException) -> None:
    """What stopped the command, in its one line (pipeline/stops.py), then its exit status. An
    error is said by every rank that met it (naming the rank), a signal by rank 0 alone:
    every rank stopped at the same step."""
    line, status = stops.line(error)
    if isinstance(error, UserError) and distributed.rank():
        print(f"rank {distributed.rank()}: {line}", file=sys.stderr)
    elif isinstance(error, UserError) or distributed.is_main():
        print(line, file=sys.stderr)
    sys.exit(status)
