"""--serve while training: the page watches the run learn, pushed by Server-Sent Events.

It is a watcher of the run (pipeline/training.Watcher): the run calls `between()` at every
cut of an epoch (each log line and each test pass), so between two batches, never inside a
step, with a read-only view of itself. There it records the log line's training loss and
the test pass's accuracy for the chart, and, every SNAPSHOT_EVERY batches and at each test
pass while a page is connected, takes a snapshot: a CPU copy of the network, which answers
the page's drawing until the next snapshot, and the first convolution's filters; at a test
pass (and at the start and the end) also the test digits the network gets wrong. There, too, it holds the run while the page has paused it, and
writes the checkpoint the page asked for.

The page's requests (pipeline/serve.py, in the server's threads) only read what was recorded
and set flags; they never touch the network being trained. Each event is encoded once; every
page connected gets all of them from the start, so a page that connects late draws the
history so far, and one that goes away is noticed within a second and costs nothing more.
"""
from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable

import torch
from torch import nn

from common import denormalise

from . import distributed, explain, report
from .answers import drawn
from .device import cpu_copy
from .training import Piece, View

SNAPSHOT_EVERY = 400  # batches between two snapshots, while a page is connected
MISTAKES_FROM = 500  # the first test images searched for the gallery of mistakes
MISTAKES_SHOWN = 12
FILTERS_SHOWN = 32
KEEP_ALIVE = 15  # seconds: a stream that has had nothing to say sends a comment


class Refused(Exception):
    """A request the run cannot take now (the server answers 409 with this line)."""


def finite(event: dict[str, Any]) -> dict[str, Any]:
    """The event as JSON can carry it: a NaN or infinity is null."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in event.items()}


def message(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event: `data: {json}` and a blank line."""
    return b"data: " + json.dumps(finite(event), allow_nan=False).encode() + b"\n\n"


class Live:
    """What the page sees of a run while it trains, shared by the run and the server."""

    def __init__(self, explainer: explain.Explainer) -> None:
        # what reads the page's drawing: the latest snapshot and its epoch, then the trained
        # network (None); the server reads it, the run's thread replaces it
        self.shown: tuple[explain.Explainer, float | None] = (explainer, None)
        self.state = "training"  # then "finished" (/api/info's "live")
        self.changed = threading.Condition()
        self.events: list[bytes] = []  # every event so far, encoded, in order
        self.snapshot, self.snapshots = b"", 0  # the latest snapshot, and how many were taken
        self.clients = 0  # pages connected to /api/live now
        self.paused = self.save_asked = False
        self.finished = False  # the run has ended or stopped: the streams say so and end
        self.closed = False  # the server is stopping
        self.since_snapshot = 0  # batches
        self.mistakes: dict[str, Any] | None = None  # the latest gallery, from a test pass
        self.checkpoint: str | None = None
        self.spent = 0.0  # seconds the run has spent between batches here, not held

    # ------------------------------------------------------------ from the page's requests

    def ask(self, what: str) -> dict[str, Any]:
        """"pause", "continue" or "save": taken at the run's next cut."""
        with self.changed:
            if self.finished:
                raise Refused("training has ended")
            if what != "continue" and distributed.active():
                raise Refused("under torchrun the page cannot pause or save: every process "
                              "would have to stop at the same batch")
            if what == "save" and not self.checkpoint:
                raise Refused("this run has no --checkpoint FILE to save to")
            if what == "pause":
                self.paused = True
            elif what == "continue":
                self.paused = False
            else:
                self.save_asked = True
            self.changed.notify_all()
            return {"paused": self.paused, "saving": self.save_asked}

    def stream(self, write: Callable[[bytes], None], gone: Callable[[], bool]) -> None:
        """Every event so far, then each new one as it comes, until the run is over.

        `write` sends bytes to the page (an OSError when it has gone); `gone` says whether
        it has closed the connection."""
        sent, seen, quiet = 0, 0, time.monotonic()
        with self.changed:
            self.clients += 1
        try:
            while True:
                with self.changed:
                    self.changed.wait_for(lambda: len(self.events) > sent or self.closed
                                          or self.snapshots > seen, timeout=1.0)
                    chunk = b""
                    if self.snapshots > seen:  # the latest only, before the events (the end last)
                        chunk, seen = self.snapshot, self.snapshots
                    chunk += b"".join(self.events[sent:])
                    sent = len(self.events)
                    done = self.finished or self.closed
                if chunk:
                    write(chunk)
                    quiet = time.monotonic()
                elif gone():
                    return
                elif time.monotonic() - quiet > KEEP_ALIVE:
                    write(b": training\n\n")
                    quiet = time.monotonic()
                if done:
                    return
        finally:
            with self.changed:
                self.clients -= 1
                self.changed.notify_all()

    # ------------------------------------------------------------ from the run, between batches

    def publish(self, *events: dict[str, Any]) -> None:
        encoded = [message(e) for e in events]
        with self.changed:
            self.events += encoded
            self.changed.notify_all()

    def started(self, run: View) -> None:
        """The run is set up (data loaded, checkpoint restored): what the chart spans."""
        s = run.settings
        self.checkpoint = s.checkpoint if not distributed.active() else None
        self.publish({"type": "start", "epochs": run.epochs, "batches": run.num_batches,
                      "from": run.start.epochs(run.num_batches), "checkpoint": s.checkpoint,
                      "torchrun": distributed.active(), "lr": run.lr},
                     *[test_point(row) for row in run.metrics])  # a resumed run's history
        self.take_snapshot(run, run.start.epochs(run.num_batches))

    def between(self, run: View, piece: Piece) -> float:
        """After `piece`: the chart's points, a snapshot if one is due, the page's save and
        pause. Returns the seconds the run was held."""
        started = time.perf_counter()
        at = position(run, piece.stop)
        interval = run.settings.log_interval
        points = [{"type": "loss", "x": position(run, i), "loss": float(piece.losses[i - piece.start]),
                   "lr": run.lr} for i in range(piece.start, piece.stop) if i % interval == 0]
        self.publish(*points, *([test_point(run.metrics[-1])] if piece.tested else []))
        self.since_snapshot += piece.stop - piece.start
        if self.clients and (piece.tested or self.since_snapshot >= SNAPSHOT_EVERY):
            self.take_snapshot(run, at, with_mistakes=piece.tested)
        if self.save_asked:
            self.save_now(run, piece.stop, piece.tested)
        self.spent += time.perf_counter() - started
        return self.hold(run, piece.stop) if self.paused else 0.0

    def hold(self, run: View, stop: int) -> float:
        """Paused by the page: wait here, between batch `stop` and the next, until it says
        continue. A signal still stops the run; a save asked meanwhile is written."""
        started, at = time.perf_counter(), position(run, stop)
        self.publish({"type": "paused", "x": at, "line": f"paused at epoch {at:g}, after "
                      f"batch {stop} of {run.num_batches}"})
        while True:
            with self.changed:
                self.changed.wait_for(lambda: not self.paused or self.closed or self.save_asked,
                                      timeout=0.5)  # a signal is handled between two waits
                if not self.paused or self.closed:
                    break
            if self.save_asked:
                self.save_now(run, stop, tested=False)
        held = time.perf_counter() - started
        self.publish({"type": "continued", "x": at, "line": f"continued after {held:.1f} s"})
        return held

    def save_now(self, run: View, stop: int, tested: bool) -> None:
        """The checkpoint as a test pass writes it (a test pass here has just written it)."""
        self.save_asked = False
        saved = run.saved if tested else run.save(stop)  # a full disk stops the run
        self.publish({"type": "saved", "x": saved,
                      "line": f"{run.settings.checkpoint} holds epoch {saved:g}"})

    def take_snapshot(self, run: View, at: float, with_mistakes: bool = True) -> None:
        """The network as it is now: a copy for the page's drawing, its filters and (a few
        tens of milliseconds more on a CPU) its mistakes."""
        self.since_snapshot = 0
        copy = cpu_copy(run.model)
        self.shown = (explain.Explainer(copy), at)
        if with_mistakes or self.mistakes is None:
            self.mistakes = {"x": at, **mistakes(run.model, run.test_data,
                                                 run.settings.test_batch_size)}
        encoded = message({"type": "snapshot", "x": at, "filters": filters(copy),
                           "mistakes": self.mistakes})
        with self.changed:
            self.snapshot, self.snapshots = encoded, self.snapshots + 1
            self.changed.notify_all()

    # ------------------------------------------------------------ the end

    def ended(self, run: View, line: str) -> None:
        """Training is over: the last snapshot, and the page becomes the trained network's."""
        if run.metrics and run.test_data is not None:  # not when there was nothing to train
            self.take_snapshot(run, run.metrics[-1]["epoch"])
        self.shown = (explain.Explainer(run.model), None)
        self.state = "finished"
        self.finish({"type": "end", "line": line})

    def stopped(self, run: View, line: str, wait: float = 2.0) -> None:
        """The run stopped (a signal, an error): the pages get its line before the server goes."""
        self.finish({"type": "stopped", "line": line})
        with self.changed:
            self.changed.wait_for(lambda: self.clients == 0, timeout=wait)

    def finish(self, event: dict[str, Any]) -> None:
        encoded = message(event)
        with self.changed:
            self.events.append(encoded)
            self.finished = True
            self.changed.notify_all()

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


def position(run: View, batch: int) -> float:
    """Epochs trained after `batch` batches of the current epoch (4 decimals)."""
    return round(run.epoch - 1 + batch / run.num_batches, 4)


def test_point(row: dict[str, float]) -> dict[str, Any]:
    return {"type": "test", "x": row["epoch"], "accuracy": row["test_accuracy"],
            "test_loss": row["test_loss"], "train_loss": row["train_loss"]}


def filters(model: nn.Module) -> dict[str, Any]:
    """The first convolution's filters (its first input channel), at most FILTERS_SHOWN."""
    name, conv = report.first_conv(model)
    weight = conv.weight.detach().float()
    return {"name": name, "shape": list(weight.shape),
            "values": drawn(weight[:FILTERS_SHOWN, 0])}


def mistakes(model: nn.Module, test: Any, batch_size: int) -> dict[str, Any]:
    """The first MISTAKES_SHOWN of the first MISTAKES_FROM test digits the network reads
    wrong now: their pixels (0..255), the label and what it said."""
    data = test.head(MISTAKES_FROM)
    said = report.predictions(model, data, batch_size)
    labels = data.labels.cpu()
    wrong = (said != labels).nonzero().flatten()
    shown = wrong[:MISTAKES_SHOWN]
    pixels = denormalise(data.images[shown.to(data.images.device)].cpu()[:, 0])
    pixels = pixels.clamp(0, 1).mul(255).round().to(torch.uint8)
    return {"searched": len(data), "wrong": len(wrong),
            "digits": [{"label": int(labels[i]), "said": int(said[i]), "pixels": p}
                       for i, p in zip(shown.tolist(), pixels.tolist())]}
