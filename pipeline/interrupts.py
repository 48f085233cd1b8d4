"""Stopping a run from outside: Ctrl-C, and the signals schedulers, `kill` and torchrun send.

SIGINT (Ctrl-C), SIGTERM and SIGHUP all stop a run the same way: at the next safe point, with
one line saying where it stopped and what the checkpoint holds, and exit status 128 + N.
A signal that lands while a checkpoint is written waits until the file is whole. Once a
signal is stopping the process, a second one lets it finish what it is doing to stop (its
line, closing the page's server): it would only cut that line short with a traceback.

In one process the signal stops the run at once (as a KeyboardInterrupt). Under torchrun
the ranks must stop at the same step, or the others would wait in a collective for one that
has left: a signal is only noted, and `stop_together()`, which every rank calls at each log
line, all-reduces the notes and stops every rank there if any rank got one.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import torch

from . import distributed

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
                if s is not None)
NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}
if hasattr(signal, "SIGHUP"):
    NAMES[signal.SIGHUP] = "hung up (SIGHUP)"


class Stop(KeyboardInterrupt):
    """A signal asked the run to stop. `signum` says which; the exit status is 128 + signum."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum


def as_stop(error: KeyboardInterrupt) -> Stop:
    """A plain KeyboardInterrupt (Python's own Ctrl-C) is a Stop by SIGINT."""
    return error if isinstance(error, Stop) else Stop(signal.SIGINT)


_pending: list[int] = []  # signals noted while a run may not stop at once
_stopping: list[int] = []  # the signal stopping the process, once one is


def _raise(signum: int, frame) -> None:
    if _stopping:  # stopping already, which takes moments
        return
    if distributed.active() and not _pending:
        _pending.append(signum)  # every rank stops together at the next log line
    else:  # one process, or a second signal: stop now
        _stopping.append(signum)
        raise Stop(signum)


def _install(handler) -> dict[int, object]:
    """Set `handler` for every stopping signal that is not ignored (nohup ignores SIGHUP)."""
    return {s: signal.signal(s, handler) for s in SIGNALS
            if signal.getsignal(s) is not signal.SIG_IGN}


def _restore(previous: dict[int, object]) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Inside the block, SIGINT, SIGTERM and SIGHUP stop the run as a Stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    _stopping.clear()
    previous = _install(_raise)
    try:
        yield
    finally:
        _restore(previous)


def stop_together(device: torch.device) -> None:
    """Under torchrun: if any rank has noted a signal, every rank raises Stop here.

    `device` is where the process group's collectives run (the GPU under NCCL).
    """
    if not distributed.active():
        return
    flag = torch.tensor([float(_pending[0] if _pending else 0)], device=device)
    signum = int(distributed.all_reduce_max(flag).item())
    if signum:
        raise Stop(signum)


def raise_noted() -> None:
    """Under torchrun, outside training (the --serve page after it): a noted signal stops
    this process now, as it would a single process."""
    if _pending:
        raise Stop(_pending[0])


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """A stopping signal inside the block is held back, then handled as it would have been."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = _install(lambda signum, _: caught.append(signum))
    try:
        yield
    finally:
        _restore(previous)
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)  # raises, or under torchrun notes it for stop_together
        else:  # SIG_DFL would end the process: end the run with its line instead
            raise Stop(caught[0])
