"""The page in a notebook cell: `pad(model)` draws a digit and shows how `model` reads it.

An anywidget: one widget for JupyterLab, Notebook 7, VS Code and Colab (anywidget's own
claim; JupyterLab 4.6 is where it was tried, tests/test_widget.py). Its browser side is web/widget.js, which starts the page's own modules (the files --serve
serves: the pad, the prediction bars, the preparation, each layer's maps, where it looked,
the sliders, the slides) with their answers coming from this kernel: every request the page
would send over HTTP comes as a widget message and is answered by the same `Page.reply` the
server calls (pipeline/page.py), so a drawing gets the same numbers in both homes. Nothing
listens on a port: a hosted notebook (Colab) shows it as a local one does.

    from pipeline.notebook import pad
    pad(model)                         # the network this notebook just trained
    pad(my_cnn.Net(), "my_cnn.pt")     # a script's Net with the weights of --save-model
                                       # or --checkpoint (.pt or .safetensors)

Watching it learn: `pad(model, watch=test_data, epochs=EPOCHS)` shown before the training
cell, whose loop tells it `learned(epoch, cut, losses)` after each piece of batches,
`tested(epoch, loss, accuracy)` after each test pass and `trained()` at the end. Between two
pieces it takes a copy of the network, which reads the drawing until the next piece (Learning),
and pushes the page's own live events (pipeline/live.py's: the losses, the test accuracy, the
first convolution's filters, the test digits read wrong, and the latest drawing read by the
copy) to the page's own live panel (web/live.js). A kernel with subshells (ipykernel 7 under
JupyterLab 4) answers the widget's own questions in a thread of its own as the cell trains;
an older kernel answers them once the cell has ended, and the pushed events carry the rest.
"""
from __future__ import annotations

import sys
from typing import Any

import anywidget
import torch
import traitlets
from torch import nn

import common

from . import checkpoints, explain, live
from .answers import BadRequest
from .device import cpu_copy
from .page import WEB, Page, make_page

LOSS_EVERY = 10  # batches between two points of the loss on the chart (the scripts' log interval)
TEST_BATCH = 1000
UNPAUSABLE = "the notebook's cell trains it: the kernel's stop button (■) stops it"


class Learning:
    """Page.live for a network that the notebook's cell trains: the drawing is read by a copy
    of it taken between two pieces of batches (Pad.learned), never by the network mid-step.
    A kernel with subshells (ipykernel 7 under JupyterLab 4) answers the widget in a thread of
    its own while the cell trains; an older one, once the cell has ended."""

    def __init__(self, model: nn.Module) -> None:
        self.shown: tuple[explain.Explainer, float | None] = (explain.Explainer(cpu_copy(model)), 0.0)
        self.state = "training"  # then "finished"

    def ask(self, what: str) -> dict[str, Any]:
        raise live.Refused(UNPAUSABLE)


class Pad(anywidget.AnyWidget):
    """The page of one network in a notebook cell (`pad()` makes it)."""
    _esm = WEB / "widget.js"
    _files = traitlets.Dict().tag(sync=True)  # the page's files, by name: web/
    _live = traitlets.Bool(False).tag(sync=True)  # it watches the network learn

    def __init__(self, shown: Page, watch: common.Split | None = None, epochs: int = 1) -> None:
        super().__init__(_files=page_files(), _live=watch is not None)
        self.page = shown
        self.events: list[dict[str, Any]] = []  # pushed to /api/live's listeners, in order
        self.watch, self.epochs = watch, epochs  # the test set whose mistakes it shows
        self.picture: dict[str, Any] | None = None  # the latest drawing asked about
        self.on_msg(self.asked)

    def asked(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """A view's request: an ask (its answer, or its error line), or a listen (the
        events so far; each new one follows as it is pushed)."""
        kind, path, body = content.get("kind"), content.get("path"), content.get("body")
        try:
            if kind == "listen":
                reply = {"answer": list(self.events)}
            else:
                if path == "/api/predict" and isinstance(body, dict):
                    self.picture = {k: body[k] for k in ("image", "pixels") if k in body}
                reply = {"answer": self.page.reply(path, body)}
        except BadRequest as e:
            reply = {"error": str(e)}
        except Exception as e:  # a bug of ours: one line here and in the widget, as the server does
            print(f"pad: {path} failed: {type(e).__name__}: {e}", file=sys.stderr)
            reply = {"error": f"the kernel could not answer ({type(e).__name__})"}
        self.send({"kind": "answer", "id": content.get("id"), **reply})

    def push(self, event: dict[str, Any]) -> None:
        """One event to every view listening to /api/live (and to any that listens later)."""
        event = live.finite(event)
        self.send({"kind": "event", "path": "/api/live", "n": len(self.events), "event": event})
        self.events.append(event)

    # ------------------------------------------------------------ from the training cell

    def learned(self, epoch: int, cut: common.Batches, losses: torch.Tensor) -> None:
        """After the batches `cut` of `epoch` trained with these `losses`: the chart's points,
        the filters and mistakes as they are now, and the drawing read again."""
        at = lambda batch: round(epoch - 1 + batch / len(cut), 4)
        if not self.events:
            self.push({"type": "start", "epochs": self.epochs, "batches": len(cut), "from": 0,
                       "checkpoint": None, "torchrun": False, "lr": None, "unpausable": UNPAUSABLE})
        for i in range(cut.start, cut.stop):
            if i % LOSS_EVERY == 0:
                self.push({"type": "loss", "x": at(i), "loss": float(losses[i - cut.start]), "lr": None})
        self.snapshot(at(cut.stop))

    def tested(self, epoch: int, loss: float, accuracy: float) -> None:
        """After the test pass of `epoch`: its accuracy (%) on the chart."""
        self.push({"type": "test", "x": epoch, "accuracy": accuracy, "test_loss": loss,
                   "train_loss": None})

    def trained(self) -> None:
        """Training is over: the page becomes the trained network's."""
        self.page.live.shown, self.page.live.state = (self.page.explainer, None), "finished"
        tests = [e for e in self.events if e["type"] == "test"]
        line = f"trained {tests[-1]['x']} epochs: {tests[-1]['accuracy']:.2f}% of the test set" \
            if tests else "trained"
        self.push({"type": "end", "line": line})

    def snapshot(self, at: float) -> None:
        """The network as it is now: a copy that reads the drawing until the next piece, its
        filters and its mistakes, and the latest drawing read by it."""
        model = self.page.explainer.model  # the one the cell trains: here, between two pieces
        copy = cpu_copy(model)
        self.page.live.shown = (explain.Explainer(copy), at)
        event = {"type": "snapshot", "x": at, "filters": live.filters(copy),
                 "mistakes": {"x": at, **live.mistakes(model, self.watch, TEST_BATCH)}}
        if self.picture:
            event["answer"] = self.page.reply("/api/predict", self.picture)
        self.push(event)


HOMES = ("app.js", "static.js", "widget.js")  # each home's own start: the server's, the static site's, this


def page_files() -> dict[str, str]:
    """The page's files as the server serves them, without the homes' own starts."""
    return {f.name: f.read_text() for f in sorted(WEB.iterdir())
            if f.suffix in (".js", ".html", ".css") and f.name not in HOMES}


def pad(model: nn.Module, weights: str | None = None, watch: common.Split | None = None,
        epochs: int = 1) -> Pad:
    """The pad and panels for `model`, a network as a script defines it (its `Net`): as it is
    (trained in this notebook), or with `weights` put into it first (a --save-model file or
    a --checkpoint, checked as --load checks them). `watch`: the test set of a network about
    to train for `epochs` here, whose learning the pad shows (Pad.learned)."""
    network = type(model).__module__.rpartition(".")[2]  # simple_cnn, my_cnn, ...
    pen_digits = None  # not known (a weights file does not say)
    if weights is not None:
        loaded = checkpoints.load_weights(model, str(weights), network)
        pen_digits = loaded["args"].get("pen_digits", "none") if loaded else None
    shown = make_page(model, network, pen_digits=pen_digits)
    if watch is not None:
        shown.live = Learning(model)
    return Pad(shown, watch, epochs)
