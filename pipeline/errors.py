"""The errors a user sees as one line on stderr instead of a traceback."""
from __future__ import annotations


class UserError(Exception):
    """A problem with what the user gave us (a file, a flag, a device): exit status 1."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook (IPython asks for this), the line a script prints, no traceback."""
        return [f"error: {self}"]


class NonFiniteLoss(UserError):
    """The training loss became NaN or infinite: the run stops at that batch."""

    def __init__(self, epoch: int, batch: int, num_batches: int, value: float) -> None:
        super().__init__(f"the loss became {value} in epoch {epoch} at batch {batch} "
                         f"(of {num_batches}); training stopped. Try a lower learning rate "
                         f"(--lr)")


class Interrupted(Exception):
    """A signal stopped the run (Ctrl-C, SIGTERM, SIGHUP), with a line saying what was kept.

    The exit status is 128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.status = 128 + signum
