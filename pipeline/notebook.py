"""The page in a notebook cell: `pad(model)` draws a digit and shows how `model` reads it.

An anywidget, so the same widget runs in JupyterLab, Notebook 7, VS Code and Colab. Its
browser side is web/widget.js, which starts the page's own modules (the files --serve
serves: the pad, the prediction bars, the preparation, each layer's maps, where it looked,
the sliders, the slides) with their answers coming from this kernel: every request the page
would send over HTTP comes as a widget message and is answered by the same `Page.reply` the
server calls (pipeline/page.py), so a drawing gets the same numbers in both homes. Nothing
listens on a port: a hosted notebook (Colab) shows it as a local one does.

    from pipeline.notebook import pad
    pad(model)                         # the network this notebook just trained
    pad(my_cnn.Net(), "my_cnn.pt")     # a script's Net with the weights of --save-model
                                       # or --checkpoint (.pt or .safetensors)
"""
from __future__ import annotations

import sys
from typing import Any

import anywidget
import traitlets
from torch import nn

from . import checkpoints
from .answers import BadRequest
from .page import WEB, Page, make_page


class Pad(anywidget.AnyWidget):
    """The page of one network in a notebook cell (`pad()` makes it)."""
    _esm = WEB / "widget.js"
    _files = traitlets.Dict().tag(sync=True)  # the page's files, by name: web/

    def __init__(self, shown: Page) -> None:
        super().__init__(_files=page_files())
        self.page = shown
        self.events: list[dict[str, Any]] = []  # pushed to /api/live's listeners, in order
        self.on_msg(self.asked)

    def asked(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        """A view's request: an ask (its answer, or its error line), or a listen (the
        events so far; each new one follows as it is pushed)."""
        kind, path, body = content.get("kind"), content.get("path"), content.get("body")
        try:
            if kind == "listen":
                reply = {"answer": self.events}
            else:
                reply = {"answer": self.page.reply(path, body)}
        except BadRequest as e:
            reply = {"error": str(e)}
        except Exception as e:  # a bug of ours: one line here and in the widget, as the server does
            print(f"pad: {path} failed: {type(e).__name__}: {e}", file=sys.stderr)
            reply = {"error": f"the kernel could not answer ({type(e).__name__})"}
        self.send({"kind": "answer", "id": content.get("id"), **reply})

    def push(self, event: dict[str, Any]) -> None:
        """One event to every view listening to /api/live (and to any that listens later)."""
        self.send({"kind": "event", "path": "/api/live", "n": len(self.events), "event": event})
        self.events.append(event)


def page_files() -> dict[str, str]:
    """The page's files as the server serves them (the widget's own loader aside)."""
    return {f.name: f.read_text() for f in sorted(WEB.iterdir())
            if f.suffix in (".js", ".html", ".css") and f.name != "widget.js"}


def pad(model: nn.Module, weights: str | None = None) -> Pad:
    """The pad and panels for `model`, a network as a script defines it (its `Net`): as it is
    (trained in this notebook), or with `weights` put into it first (a --save-model file or
    a --checkpoint, checked as --load checks them)."""
    network = type(model).__module__.rpartition(".")[2]  # simple_cnn, my_cnn, ...
    pen_digits = None  # not known (a weights file does not say)
    if weights is not None:
        loaded = checkpoints.load_weights(model, str(weights), network)
        pen_digits = loaded["args"].get("pen_digits", "none") if loaded else None
    return Pad(make_page(model, network, pen_digits=pen_digits))
