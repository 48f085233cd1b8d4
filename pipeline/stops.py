"""What stopped a command, as the one line it prints (the page shows the same) and its exit
status: a problem with the user's input is "error: ..." and 1, a signal "stopped: ..." and
128 + N."""
from __future__ import annotations

from . import interrupts
from .errors import Interrupted, UserError


def line(error: BaseException) -> tuple[str, int]:
    if isinstance(error, UserError):
        return f"error: {error}", 1
    if isinstance(error, Interrupted):
        return f"stopped: {error}", error.status
    if isinstance(error, KeyboardInterrupt):
        stop = interrupts.as_stop(error)
        return f"stopped: {stop}", 128 + stop.signum
    return f"stopped: {type(error).__name__}: {error}", 1
