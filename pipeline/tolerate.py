"""What a network tolerates: the learner's prepared digit shifted, turned, scaled and
thickened by the page's sliders, and the ten probabilities as one slider sweeps its range, step by step.

The changes are the training augmentation's own (pipeline/augment.py: one affine_grid /
grid_sample, max-pooling dilation and erosion), applied to the prepared 1 x 28 x 28 tensor
the network reads; the digit at the sliders' setting and every point of the sweep go through
each network in one batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from common import denormalise

from .augment import thicken, warp
from .probe import evaluating


@dataclass(frozen=True)
class Slider:
    name: str
    label: str
    low: float
    high: float
    step: float
    rest: float  # the value that leaves the digit as it was prepared
    unit: str


SLIDERS = {s.name: s for s in (
    Slider("shift_x", "shift right", -10, 10, 0.5, 0, "px"),
    Slider("shift_y", "shift down", -10, 10, 0.5, 0, "px"),
    Slider("rotate", "rotate anticlockwise", -90, 90, 5, 0, "°"),
    Slider("scale", "scale", 0.4, 1.6, 0.05, 1, "×"),
    Slider("thicken", "thicken (thinner below 0)", -2, 2, 0.25, 0, "px"),
)}
UNITS = {"px": "pixels", "°": "degrees", "×": "times the size"}


def sweep_values(s: Slider) -> np.ndarray:
    """Every value the slider can be set to, low to high in its own steps (17 to 41)."""
    return (s.low + s.step * np.arange(round((s.high - s.low) / s.step) + 1)).round(4)


class BadSetting(ValueError):
    """A slider value or name the page cannot have sent (the server answers 400)."""


def settings_of(sliders: Any) -> dict[str, float]:
    """Every slider's value: those given (each checked against its range), the rest at rest."""
    if sliders is None:
        sliders = {}
    if not isinstance(sliders, dict):
        raise BadSetting('sliders must be an object such as {"rotate": 15}')
    unknown = sorted(set(sliders) - set(SLIDERS))
    if unknown:
        raise BadSetting(f"no slider {unknown[0][:40]!r}; the sliders are {', '.join(SLIDERS)}")
    values = {}
    for name, s in SLIDERS.items():
        v = sliders.get(name, s.rest)
        if type(v) not in (int, float) or not s.low <= v <= s.high:  # NaN fails the range
            raise BadSetting(f"{name} must be a number from {s.low:g} to {s.high:g} "
                             f"({UNITS[s.unit]}), got {str(v)[:40]}")
        values[name] = float(v)
    return values


def changed(image: torch.Tensor, settings: list[dict[str, float]]) -> torch.Tensor:
    """1 x 28 x 28 prepared digit -> N x 1 x 28 x 28, one per setting: thickened, then
    scaled, rotated and shifted about the centre (augment.warp, with no shear)."""
    n = len(settings)
    column = {name: torch.tensor([s[name] for s in settings]) for name in SLIDERS}
    images = thicken(image.expand(n, 1, 28, 28).float(), column["thicken"])
    return warp(images, column["shift_x"], column["shift_y"], column["rotate"],
                column["scale"], torch.zeros(n))


def probabilities(explainer: Any, images: torch.Tensor) -> torch.Tensor:
    """N x 10 probabilities of the explainer's network, in eval mode, under its lock."""
    model = explainer.model
    with explainer.lock, evaluating(model), torch.inference_mode():
        return model(images.to(next(model.parameters()).device)).float().exp().cpu()


def held(digits: np.ndarray, values: np.ndarray, at: float) -> dict[str, Any]:
    """The digit read at the sweep's point nearest `at`, and the stretch of the sweep around
    it where the network goes on reading that digit: from, to."""
    i = int(np.abs(values - at).argmin())
    low = high = i
    while low > 0 and digits[low - 1] == digits[i]:
        low -= 1
    while high < len(digits) - 1 and digits[high + 1] == digits[i]:
        high += 1
    return {"digit": int(digits[i]), "from": float(values[low]), "to": float(values[high])}


def tolerate(networks: list[tuple[str, Any]], image: torch.Tensor, sliders: Any,
             sweep: Any) -> dict[str, Any]:
    """The digit at the sliders' setting and, if `sweep` names a slider, the probabilities
    across that slider's range (the others held), for each (name, Explainer)."""
    setting = settings_of(sliders)
    if sweep is not None and sweep not in SLIDERS:
        raise BadSetting(f"sweep must name a slider: {', '.join(SLIDERS)}")
    points = sweep_values(SLIDERS[sweep]) if sweep is not None else []
    batch = changed(image, [setting] + [{**setting, sweep: float(v)} for v in points])
    answer: dict[str, Any] = {
        "sliders": setting, "input": denormalise(batch[0, 0]).clamp(0, 1),
        "networks": []}
    if sweep is not None:
        answer["sweep"] = {"slider": sweep, "values": [float(v) for v in points]}
    for name, explainer in networks:
        p = probabilities(explainer, batch)
        found = {"network": name, "digit": int(p[0].argmax()), "probabilities": p[0].tolist()}
        if sweep is not None:
            found["sweep"] = p[1:]
            found["holds"] = held(p[1:].argmax(1).numpy(), points, setting[sweep])
        answer["networks"].append(found)
    return answer
