"""Ways of writing a digit that whole regions use and MNIST's writers rarely do, made from a
person's own pen strokes (pipeline/pens.py draws them into training, tools/styles.py measures
how a network reads each; docs/styles.md).

`STYLES` names them per digit: a 0 slashed or dotted; a 1 with a long flag rising from the
lower left to its top (the European 1), with a base as well, with its stem leaning, or with a
base alone; a 2 with a loop where its curve meets its base; a 4 open or closed at the top; a 7
crossed or hooked at its top; a 9 with a straight or a curled stem. `restyled` changes a
digit's strokes into one of them (None where its strokes give no place for it), sized and
placed by its own box, every size and angle drawn from `rng`. `written` tells which of the
styles a person's own digit was written in, by rules stated below, for the measures. `torn`
names both digits where a network reads a drawing as two about as likely (the page and
--predict say so).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np


class PenDigit(Protocol):  # pens.PenDigit, as this module reads it (pens imports this module)
    label: int
    strokes: tuple[tuple[tuple[float, float], ...], ...]


STYLES = {0: ("slashed", "dotted"),
          1: ("flag", "flag and base", "leaning with a flag", "base"),
          2: ("looped",),
          4: ("open", "closed"),
          7: ("crossed", "hooked"),
          9: ("straight", "curled")}

# people's flags (data/unipen/'s 122 flagged 1s, 5th to 95th percentile): 0.33-1.01 of the
# height long (median 0.43), rising 19-66 degrees (median 42)
FLAG_LENGTH = (0.3, 0.8)  # a 1's flag, in units of its height
FLAG_RISE = (20.0, 65.0)  # degrees above level, from its start up to the 1's top
LEAN = (8.0, 25.0)  # degrees a leaning 1's foot stands left of its top


def restyled(digit: PenDigit, style: str, rng: np.random.Generator) -> PenDigit | None:
    """The digit written in `style` (one of STYLES[digit.label]), its own strokes kept where
    the style does not change them; None where they give the style no place."""
    strokes = [np.array(s, dtype=np.float64) for s in digit.strokes]
    made = MAKERS[style](strokes, Box(strokes), rng)
    if made is None:
        return None
    return dataclasses.replace(digit, strokes=tuple(tuple((float(x), float(y)) for x, y in s)
                                                    for s in made))


class Box:
    """The strokes' box (y down): left, top, right, bottom, width, height (at least 1)."""

    def __init__(self, strokes: list[np.ndarray]) -> None:
        every = np.concatenate(strokes)
        (self.left, self.top), (self.right, self.bottom) = every.min(0), every.max(0)
        self.width, self.height = self.right - self.left, max(self.bottom - self.top, 1.0)
        self.centre = np.array([(self.left + self.right) / 2, (self.top + self.bottom) / 2])


# Each style's maker: (the digit's strokes as arrays, their Box, a generator) -> the strokes
# written in that style, or None where they give it no place.

def slashed(strokes, box, rng):
    """A straight slash through the middle, rising to the right, beyond the ring."""
    angle = np.radians(rng.uniform(20, 70))
    way = np.array([np.cos(angle), -np.sin(angle)])
    edge = min(box.width / 2 / abs(way[0]), box.height / 2 / abs(way[1]))  # centre to box
    half = edge * rng.uniform(1.0, 1.3)
    return strokes + [np.stack([box.centre - half * way, box.centre + half * way])]


def dotted(strokes, box, rng):
    """A dot in the middle: a small ring of the pen."""
    r = box.height * rng.uniform(0.03, 0.07)
    t = np.linspace(0, 2 * np.pi, 9)
    return strokes + [box.centre + r * np.stack([np.cos(t), np.sin(t)], 1)]


def flagged(strokes, box, rng):
    """A long straight flag from the lower left up to the top, written into the stroke
    that starts there (as one writes a European 1), or as a stroke of its own."""
    which = int(np.argmin([s[:, 1].min() for s in strokes]))
    stroke = strokes[which]
    at = int(stroke[:, 1].argmin())
    top = stroke[at]
    length = box.height * rng.uniform(*FLAG_LENGTH)
    rise = np.radians(rng.uniform(*FLAG_RISE))
    start = top + length * np.array([-np.cos(rise), np.sin(rise)])
    if at <= 2:  # the stroke starts at the top: the flag comes first, then the stem
        return strokes[:which] + [np.vstack([start, stroke[at:]])] + strokes[which + 1:]
    return strokes + [np.stack([start, top])]


def based(strokes, box, rng):
    """A level base across the foot."""
    every = np.concatenate(strokes)
    foot = every[every[:, 1].argmax()]
    half = box.height * rng.uniform(0.15, 0.35)
    return strokes + [np.stack([foot - [half, 0], foot + [half, 0]])]


def leaning(strokes, box, rng):
    """The stem leant forward (its foot to the left of its top), then a flag."""
    slope = np.tan(np.radians(rng.uniform(*LEAN)))
    leant = [s - np.stack([slope * (s[:, 1] - box.top), np.zeros(len(s))], 1) for s in strokes]
    return flagged(leant, Box(leant), rng)


def looped(strokes, box, rng):
    """A small loop where the 2's curve comes down to its base (the point nearest the box's
    lower left corner), inside its longest stroke."""
    which = int(np.argmax([len(s) for s in strokes]))
    stroke = strokes[which]
    at = int(np.argmin((stroke[:, 0] - box.left) / max(box.width, 1.0)
                       + (box.bottom - stroke[:, 1]) / box.height))
    if at == 0 or at == len(stroke) - 1:
        return None  # no curve comes down to a base here
    r = box.height * rng.uniform(0.08, 0.15)
    up_right = np.radians(rng.uniform(30, 80))  # from the corner to the loop's centre
    centre = stroke[at] + r * np.array([np.cos(up_right), -np.sin(up_right)])
    t = np.linspace(0, 2 * np.pi, 13)[1:-1] + np.pi + up_right  # from the corner round
    loop = centre + r * np.stack([np.cos(t), -np.sin(t)], 1)
    return strokes[:which] + [np.vstack([stroke[:at + 1], loop, stroke[at:]])] + \
        strokes[which + 1:]


def arms_and_stem(strokes):
    """A 4 written in two strokes or more: its stem (the tallest stroke), and its arms (the
    first other stroke) with their corner (their leftmost point); None if there is none."""
    if len(strokes) < 2:
        return None
    stem = int(np.argmax([np.ptp(s[:, 1]) for s in strokes]))
    arms = next(i for i in range(len(strokes)) if i != stem)
    corner = int(strokes[arms][:, 0].argmin())
    if corner == 0 or len(strokes[arms]) < 3:
        return None
    return arms, stem, corner


def opened(strokes, box, rng):
    """The arms' way down written straight down to the corner, apart from the stem at the top."""
    found = arms_and_stem(strokes)
    if found is None:
        return None
    arms, _, corner = found
    a = strokes[arms]
    if a[corner, 1] - a[:corner + 1, 1].min() < 0.2 * box.height:
        return None  # no way down to the corner
    start = np.array([a[corner, 0] + box.width * rng.uniform(0.0, 0.1), a[:corner + 1, 1].min()])
    return [np.vstack([start, a[corner:]]) if i == arms else s for i, s in enumerate(strokes)]


def closed(strokes, box, rng):
    """The arms' way down starting from the stem's top, closing the 4 there."""
    found = arms_and_stem(strokes)
    if found is None:
        return None
    arms, stem, _ = found
    a, top = strokes[arms], strokes[stem][strokes[stem][:, 1].argmin()]
    if np.hypot(*(a[0] - top)) < 0.15 * box.height:
        return None  # closed as written
    return [np.vstack([top, a]) if i == arms else s for i, s in enumerate(strokes)]


def crossed(strokes, box, rng):
    """A short level bar across the 7's stem, half-way down."""
    every = np.concatenate(strokes)
    y = box.top + box.height * rng.uniform(0.45, 0.6)
    x = every[np.abs(every[:, 1] - y).argmin(), 0]
    half = box.height * rng.uniform(0.12, 0.22)
    return strokes + [np.array([[x - half, y], [x + half, y]])]


def hooked(strokes, box, rng):
    """A short stroke down at the left end of the 7's top, written before it."""
    first = strokes[0]
    if first[0, 1] > box.top + 0.3 * box.height or first[0, 0] > box.centre[0]:
        return None  # the 7 does not start at the left of its top
    drop = box.height * rng.uniform(0.12, 0.25)
    start = first[0] + [box.width * rng.uniform(-0.05, 0.05), drop]
    return [np.vstack([start, first])] + strokes[1:]


def straightened(strokes, box, rng):
    """The 9's stem ending at its lowest point (a curl after it cut off)."""
    which = int(np.argmax([s[:, 1].max() for s in strokes]))
    stroke = strokes[which]
    low = int(stroke[:, 1].argmax())
    tail = np.hypot(*np.diff(stroke[low:], axis=0).T).sum()
    if not 0.05 * box.height <= tail <= 0.4 * box.height or low < len(stroke) / 2:
        return None  # straight as written, or the stroke is not a stem coming down
    return strokes[:which] + [stroke[:low + 1]] + strokes[which + 1:]


def curled(strokes, box, rng):
    """A curl to the left at the foot of the 9's stem."""
    which = int(np.argmax([s[:, 1].max() for s in strokes]))
    stroke = strokes[which]
    if int(stroke[:, 1].argmax()) < len(stroke) - 3:
        return None  # curled as written
    r = box.height * rng.uniform(0.1, 0.2)
    t = np.linspace(0, np.pi * rng.uniform(0.6, 1.0), 8)[1:]
    foot = stroke[-1]
    curl = foot + [-r, 0] + r * np.stack([np.cos(t), np.sin(t)], 1)  # down, left, then up
    return strokes[:which] + [np.vstack([stroke, curl])] + strokes[which + 1:]


MAKERS = {"slashed": slashed, "dotted": dotted, "flag": flagged,
          "flag and base": lambda s, b, rng: based(flagged(s, b, rng), b, rng),
          "leaning with a flag": leaning, "base": based, "looped": looped, "open": opened,
          "closed": closed, "crossed": crossed, "hooked": hooked, "straight": straightened,
          "curled": curled}


def written(digit: PenDigit) -> str | None:
    """Which of the measured styles a person's own digit was written in, by its strokes:
    "flag" for a 1 whose first stroke rises to its top from at least 0.3 of its height away at
    15 to 75 degrees; "slashed" for a 0 with a straight stroke (at most 1.2 times as long as
    from end to end) half its box's width or longer that crosses its ring (its longest
    stroke); "crossed" for a 7 with a short straight, nearly level stroke across its middle
    (not its longest); else None."""
    strokes = [np.array(s, dtype=np.float64) for s in digit.strokes]
    box = Box(strokes)
    if digit.label == 1:
        first = strokes[0]
        top = int(first[:, 1].argmin())
        dx, dy = first[top] - first[0]
        rise = np.degrees(np.arctan2(-dy, dx))
        if np.hypot(dx, dy) >= 0.3 * box.height and 15 <= rise <= 75:
            return "flag"
    ring = max(strokes, key=lambda s: np.hypot(*np.diff(s, axis=0).T).sum())  # the longest
    for s in strokes:
        if s is ring or len(s) < 2:
            continue
        chord = np.hypot(*(s[-1] - s[0]))
        straight = np.hypot(*np.diff(s, axis=0).T).sum() <= 1.2 * chord
        if digit.label == 0 and straight and chord >= 0.5 * box.width and crosses(s, ring):
            return "slashed"
        dx, dy = np.abs(s[-1] - s[0])
        middle = (s[:, 1].mean() - box.top) / box.height
        if digit.label == 7 and straight and dy < 0.5 * dx and 0.3 <= middle <= 0.8:
            return "crossed"
    return None


def crosses(a: np.ndarray, b: np.ndarray) -> int:
    """How many times polyline `a` crosses polyline `b` (their segments' proper crossings)."""
    p, r = a[:-1, None], np.diff(a, axis=0)[:, None]  # A x 1 x 2
    q, s = b[None, :-1], np.diff(b, axis=0)[None]  # 1 x B x 2
    cross = r[..., 0] * s[..., 1] - r[..., 1] * s[..., 0]
    qp = q - p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[..., 1] - qp[..., 1] * s[..., 0]) / cross
        u = (qp[..., 0] * r[..., 1] - qp[..., 1] * r[..., 0]) / cross
    return int(((cross != 0) & (0 <= t) & (t <= 1) & (0 <= u) & (u <= 1)).sum())


TORN = 1 / 3  # torn: the second likeliest digit is at least this share as likely as the first

# how the digit taken second may have been meant, where people write it in a way that reads as
# the first (the styles above): (first, second) -> the words
MEANT = {(7, 1): "a 1 as written in much of Europe", (2, 1): "a 1 with a base",
         (3, 1): "a 1 with a base", (2, 7): "a crossed 7", (9, 4): "a 4 closed at the top",
         **{(d, 0): "a slashed 0" for d in (2, 4, 8, 9)}}


def torn(probabilities: list[float]) -> dict[str, Any] | None:
    """Where the network is torn between its two likeliest digits (the second at least TORN
    as likely as the first): the second and the words the page shows, "7 — or a 1 as written
    in much of Europe"; None where it is not."""
    first, second = sorted(range(len(probabilities)), key=lambda d: -probabilities[d])[:2]
    if probabilities[second] < TORN * probabilities[first]:
        return None
    meant = MEANT.get((first, second), f"{'an' if second == 8 else 'a'} {second}")
    return {"digit": second, "text": f"{first} \u2014 or {meant}"}
