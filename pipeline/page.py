"""The page's answers, by path, whichever home shows the page.

The --serve page asks them over HTTP (serve.py); the notebook's widget asks them through the
Jupyter kernel (notebook.py). Both call `Page.reply` with the same path and body, so a drawing
gets the same numbers in both homes. The answers are made in answers.py (the drawing, layer
by layer) and slides.py (the worked examples); every number the page shows comes from PyTorch:

    GET  /api/info       the network: name, layers, the flatten size into the classifier,
                         the --pen-digits it was trained with (null: its file does not
                         say), and "live": "training" or "finished" when it trains as it
                         serves
    GET  /api/examples   the slides' worked examples of pooling and convolution
    GET  /api/pen        one person's pen digit (data/unipen/), its strokes in the pad's
                         pixels: the page opens with it replayed on the pad
    GET  /api/live       while it trains: Server-Sent Events (pipeline/live.py) of the run's
                         loss and accuracy, snapshots of the filters and mistakes, its end
    POST /api/predict    {"image": base64 PNG/JPEG} or {"pixels": H x W grey in [0, 1]}
                         -> the steps that prepared it (each's picture and numbers), the
                            prepared 28 x 28 input, each layer's most active feature maps
                            (with the filters of a convolution's), the flattened vector and
                            the ten probabilities (while it trains: of the latest
                            snapshot, whose epoch is "at")
    POST /api/attribute  {"image" or "pixels", "target": 0-9} -> Captum's saliency, Integrated
                         Gradients and occlusion maps of that digit's score over the 28 x 28
                         input (also in /api/predict's answer, for the digit it read, when
                         the body says "attribution": true)
    POST /api/tolerate   {"image" or "pixels", "sliders": {"rotate": 15, ...}, "sweep": a
                         slider's name} -> the prepared digit changed by the sliders (shift,
                         rotate, scale, thicken; /api/info lists their ranges), what each
                         network (this one, and --compare's) reads there, and the ten
                         probabilities across the swept slider's range (pipeline/tolerate.py)
    POST /api/pause, /api/continue, /api/save   while it trains: hold the run, let it go
                         on, write --checkpoint; each at the run's next cut between batches
    POST /api/slide      {"op": "max"|"avg"|"conv", "input": grid, "kernel", "stride",
                          "padding"} -> F.max_pool2d / F.avg_pool2d / F.conv2d's output, the
                          window of every output cell, and the output size formula

A request that cannot be answered raises answers.BadRequest: a status and one line.
"""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from . import answers, explain, live, pens, slides, tolerate
from .answers import BadRequest
from .data import Step
from .device import cpu_copy
from .errors import UserError
from .report import classifier_line

WEB = Path(__file__).resolve().parent / "web"  # the page's plain files: HTML, JS, CSS
ASKED = {"/api/pause": "pause", "/api/continue": "continue", "/api/save": "save"}  # no body


@dataclass
class Page:
    """What the page shows: `explainer` reads the drawing, or, while the network trains,
    `live` (the run's watcher) holds the snapshot that does; `compare` is the second network
    held against it (--compare), by its label."""
    explainer: explain.Explainer
    info: dict[str, Any]
    live: live.Live | None = None
    compare: tuple[str, explain.Explainer] | None = None

    @property
    def shown(self) -> tuple[explain.Explainer, float | None]:
        """The network that reads the drawing, and while it trains the epoch of that
        snapshot (None: the trained network)."""
        return self.live.shown if self.live else (self.explainer, None)

    def described(self) -> dict[str, Any]:
        """/api/info: the network, and while it trains whether it has finished."""
        return {**self.info, "live": self.live.state} if self.live else self.info

    def reply(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The answer to `path`: a GET where `body` is None, else a POST of `body`."""
        if body is None:
            gets = {"/api/info": self.described, "/api/examples": lambda: slides.EXAMPLES,
                    "/api/pen": pen_digit}
            if path not in gets:
                raise BadRequest(404, f"no such page: {path[:200]}")
            return gets[path]()
        posts = {"/api/predict": self.predict, "/api/attribute": self.attribute,
                 "/api/tolerate": self.tolerate, "/api/slide": slides.slide}
        if path in ASKED:
            return self.ask(ASKED[path])
        if path not in posts:
            raise BadRequest(404, f"no such API: {path[:200]}")
        return posts[path](body)

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        explainer, at = self.shown
        steps: list[Step] = []
        image = answers.picture_from(body, steps)
        answer = {**answers.prediction(explainer, image),
                  "steps": [answers.step_view(s) for s in steps], "at": at}
        if body.get("attribution") is True:  # where it looked, for the digit it read
            answer["attribution"] = answers.attribution(explainer, image, answer["digit"])
        return answer

    def attribute(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/attribute: where the network looked for any one digit."""
        target = answers.small_int(body, "target", 0, 9)
        return answers.attribution(self.shown[0], answers.picture_from(body), target)

    def tolerate(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/tolerate: for the page's network and the one it is compared with."""
        networks = [(self.info["network"], self.shown[0]), *([self.compare] if self.compare else [])]
        return answers.tolerance(networks, body)

    def ask(self, what: str) -> dict[str, Any]:
        if self.live is None:
            raise BadRequest(409, "nothing is training here: these are trained weights")
        try:
            return self.live.ask(what)
        except live.Refused as e:
            raise BadRequest(409, str(e)) from None


def make_page(model: nn.Module, network: str, training: bool = False,
              compare: tuple[str, nn.Module] | None = None,
              pen_digits: str | None = None) -> Page:
    """The page of `model`; `training`: it is about to train (the page watches it, and reads
    the drawing with copies of it taken between batches); `compare`: a second network (its
    label, its model) that the page holds against it; `pen_digits`: the --pen-digits it was
    trained with (None: not known, as for a --save-model file)."""
    explainer = explain.Explainer(cpu_copy(model) if training else model)
    info = {"network": network, "parameters": sum(p.numel() for p in model.parameters()),
            "layers": [name for name, _ in explain.layers(model)],
            "classifier": classifier_line(explainer.classifier_name, explainer.classifier),
            "sliders": [vars(s) for s in tolerate.SLIDERS.values()],
            "compare": compare[0] if compare else None, "pen_digits": pen_digits}
    return Page(explainer, info, live.Live(explainer) if training else None,
                (compare[0], explain.Explainer(compare[1])) if compare else None)


@functools.lru_cache(maxsize=1)
def pen_digits() -> list[pens.PenDigit]:
    return pens.load()


def pen_digit() -> dict[str, Any]:
    """GET /api/pen: one person's pen digit, a different one each time, in the pad's pixels
    (the page opens with it replayed on the pad, every panel showing what it is for)."""
    try:
        digit = random.choice(pen_digits())
    except UserError as e:
        raise BadRequest(404, str(e)) from None
    return {"label": digit.label, "source": digit.source, "strokes": pens.on_pad(digit)}
