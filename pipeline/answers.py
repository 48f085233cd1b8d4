"""The page's JSON answers: what a drawing becomes, layer by layer, and why it was read so.

pipeline/serve.py takes the requests and sends these answers; every number in them comes from
PyTorch (pipeline/explain.py, attribute.py, tolerate.py). A request that cannot be answered
is a BadRequest: a status and one line.
"""
from __future__ import annotations

import base64
import binascii
import io
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from common import denormalise

from . import attribute, explain, styles, tolerate
from .data import Step, prepare_digit, read_picture
from .errors import UserError
from .report import classifier_line

MAX_PIXELS_SIDE = 1024  # a "pixels" array's largest side


class BadRequest(Exception):
    """A request the API cannot answer: status and one line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def drawn(t: torch.Tensor) -> list:
    """Values the page only draws, to 4 decimals (a fifth of the JSON, and as quick)."""
    return t.double().mul(1e4).round().div(1e4).tolist()


def layer_view(stage: explain.Stage) -> dict[str, Any]:
    """One layer for the page: its shape, its most active maps, a convolution's filters."""
    out = stage.output
    view: dict[str, Any] = {"name": stage.name, "shape": list(out.shape),
                            "kind": type(stage.module).__name__}
    if out.dim() == 3 and out.shape[1] * out.shape[2] > 1:
        channels = explain.most_active(out)
        view["maps"] = [{"channel": c, "values": drawn(out[c])} for c in channels]
        if isinstance(stage.module, nn.Conv2d):
            weight = stage.module.weight.detach().float().cpu()
            view["filters"] = {c: drawn(weight[c]) for c in channels}  # in x k x k each
    else:
        view["values"] = drawn(out.flatten())
    return view


def prediction(explainer: explain.Explainer, image: torch.Tensor) -> dict[str, Any]:
    started = time.perf_counter()
    e = explainer(image)
    milliseconds = 1000 * (time.perf_counter() - started)
    return {
        "digit": e.digit, "probabilities": e.probabilities.tolist(),
        "torn": styles.torn(e.probabilities.tolist()),
        "milliseconds": round(milliseconds, 1),
        "input": drawn(denormalise(e.image[0]).clamp(0, 1)),
        "layers": [layer_view(s) for s in e.stages],
        "flatten": {"size": e.flattened.numel(), "values": drawn(e.flattened),
                    "into": classifier_line(e.classifier, e.linear),
                    "before": next(i for i, s in enumerate(e.stages) if s.module is e.linear)},
    }


STEP_SIDE = 56  # a preparation step's picture is sent at most this large


def step_view(step: Step) -> dict[str, Any]:
    """One step of the preparation for the page: its name, numbers and picture (a large one
    shrunk to STEP_SIDE on its longer side, by averaging)."""
    from PIL import Image

    picture = step.picture
    h, w = picture.shape
    if max(h, w) > STEP_SIDE:
        scale = STEP_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        picture = np.asarray(Image.fromarray(picture.astype(np.float32)).resize(
            size, Image.Resampling.BOX))
    return {"name": step.name, "note": step.note, "shape": [h, w],
            "pixels": drawn(torch.tensor(picture))}


def attribution(explainer: explain.Explainer, image: torch.Tensor, target: int) -> dict[str, Any]:
    """Captum's three maps of `target`'s score over the 28 x 28 input (pipeline/attribute.py)."""
    found = attribute.attribute(explainer.model, image, target, explainer.lock)
    return {"target": target, "methods": {m: {"map": drawn(a["map"]), "milliseconds":
                                              a["milliseconds"]} for m, a in found.items()}}


def tolerance(networks: list[tuple[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """POST /api/tolerate's answer, for the page's network and the one it is compared with:
    (label, explainer or model) each."""
    started = time.perf_counter()
    try:
        answer = tolerate.tolerate(networks, picture_from(body), body.get("sliders"),
                                   body.get("sweep"))
    except tolerate.BadSetting as e:
        raise BadRequest(400, str(e)) from None
    answer["input"] = drawn(answer["input"])
    for found in answer["networks"]:
        if "sweep" in found:
            found["sweep"] = drawn(found["sweep"])
    answer["milliseconds"] = round(1000 * (time.perf_counter() - started), 1)
    return answer


def picture_from(body: dict[str, Any], steps: list[Step] | None = None) -> torch.Tensor:
    """The request's picture, prepared exactly as --predict prepares a file (its steps to
    `steps`, if given)."""
    if "image" in body:
        if not isinstance(body["image"], str):
            raise BadRequest(400, "image must be a base64 string of a PNG or JPEG file")
        data = body["image"].split(",", 1)[-1]  # a data: URL's header is optional
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(400, "image is not valid base64") from None
        try:
            return read_picture(io.BytesIO(raw), "image", steps)
        except UserError as e:
            raise BadRequest(422, str(e)) from None
    if "pixels" in body:
        return prepared_pixels(body["pixels"], steps)
    raise BadRequest(400, 'send {"image": base64 file} or {"pixels": H x W grey values}')


def prepared_pixels(pixels: Any, steps: list[Step] | None = None) -> torch.Tensor:
    grid = number_grid(pixels, "pixels", MAX_PIXELS_SIDE)
    if grid.min() < 0 or grid.max() > 1:
        raise BadRequest(400, "pixels must lie in [0, 1] (0 black, 1 white)")
    try:
        return prepare_digit(grid.astype(np.float32), "pixels", steps)
    except UserError as e:
        raise BadRequest(422, str(e)) from None


def number_grid(rows: Any, what: str, largest: int) -> np.ndarray:
    """A rectangular 2-D list of finite numbers, each side 1..largest, as float64."""
    if not (isinstance(rows, list) and rows and all(isinstance(r, list) for r in rows)):
        raise BadRequest(400, f"{what} must be a 2-D array (a list of rows)")
    widths = {len(r) for r in rows}
    if len(widths) != 1 or 0 in widths:
        raise BadRequest(400, f"{what}: every row must have the same, non-zero length")
    if len(rows) > largest or max(widths) > largest:
        raise BadRequest(400, f"{what}: at most {largest} x {largest}, got "
                              f"{len(rows)} x {widths.pop()}")
    if not all(type(v) in (int, float) for r in rows for v in r):  # bool, str, None are not
        raise BadRequest(400, f"{what}: every value must be a number")
    try:
        grid = np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer beyond a float's range
        raise BadRequest(400, f"{what}: a value is too large for a float") from None
    if not np.isfinite(grid).all():
        raise BadRequest(400, f"{what}: NaN and infinite values are not allowed")
    return grid


def small_int(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if type(value) is not int or not low <= value <= high:
        raise BadRequest(400, f"{key} must be an integer from {low} to {high}")
    return value
