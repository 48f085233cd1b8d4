"""People's pen digits: UNIPEN's isolated digits as this project ships them (data/unipen/).

11,243 digits written with a pen on tablets by about 140 people at six institutions, none of
them MNIST's (CC BY 4.0; data/unipen/README.md gives the attribution and the format). Each is
the pen's path: strokes of (x, y) points in the tablet's own units, y pointing down.

`load` reads them; `on_pad` scales one onto the page's pad (the page opens with one replayed);
`PenPictures` draws them all at once as 28 x 28 pictures with any pen width, as the page
prepares a drawing, for training on them (--pen-digits): made ready once per run (each digit's
distance field, and those of its twins written in the ways people write it, pipeline/styles.py),
then drawn anew each epoch, half of the digits that have styles in one of them.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import common
from common import normalise

from . import styles
from .errors import UserError

PEN_DIGITS = Path(__file__).resolve().parent.parent / "data" / "unipen" / "digits.jsonl.gz"
SOURCES = ("syn", "apb", "app", "apa", "ibm", "ced")  # the six institutions


@dataclass(frozen=True)
class PenDigit:
    label: int  # 0-9
    writer: str
    source: str  # the institution: one of SOURCES
    strokes: tuple[tuple[tuple[float, float], ...], ...]  # pen-down strokes of (x, y) points


def load(path: Path | str = PEN_DIGITS) -> list[PenDigit]:
    """Every digit in the file, checked as read: a missing or damaged file is one UserError
    naming the file (and the line, for a line that is not a pen digit)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (the pen digits ship with the project in "
                        f"data/unipen/; a clone without them lacks that folder)")
    digits = []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                digits.append(parse(line, f"{path}, line {number}"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not the gzipped pen digits it should be ({e}); take it "
                        f"again from data/unipen/") from None
    if not digits:
        raise UserError(f"{path}: holds no pen digits")
    return digits


def parse(line: str, where: str) -> PenDigit:
    """One line of the file: {"label", "writer", "source", "strokes"}."""
    try:
        row = json.loads(line)
        label, strokes = row["label"], row["strokes"]
        ok = (type(label) is int and 0 <= label <= 9 and isinstance(row["writer"], str)
              and row["source"] in SOURCES and isinstance(strokes, list) and strokes
              and all(isinstance(s, list) and s and all(
                  isinstance(p, list) and len(p) == 2 and all(type(v) is int for v in p)
                  for p in s) for s in strokes))
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise UserError(f"{where}: not a pen digit ({{\"label\": 0-9, \"writer\", \"source\": "
                        f"one of {', '.join(SOURCES)}, \"strokes\": [[[x, y], ...], ...]}})")
    return PenDigit(label, row["writer"], row["source"],
                    tuple(tuple((x, y) for x, y in s) for s in strokes))


PAD = 280  # the page's pad, in pixels (pipeline/web/index.html)


def on_pad(digit: PenDigit, pad: int = PAD, box: int = 190) -> list[list[list[float]]]:
    """The digit's strokes scaled (aspect kept) to fit `box` pixels, centred on the pad."""
    xs = [x for s in digit.strokes for x, _ in s]
    ys = [y for s in digit.strokes for _, y in s]
    width, height = max(xs) - min(xs), max(ys) - min(ys)
    scale = box / max(width, height, 1)
    left, top = (pad - width * scale) / 2, (pad - height * scale) / 2
    return [[[round(left + (x - min(xs)) * scale, 1), round(top + (y - min(ys)) * scale, 1)]
             for x, y in stroke] for stroke in digit.strokes]


def chosen(sources: str, digits: list[PenDigit] | None = None) -> list[PenDigit]:
    """The digits of `sources` ("all", or institutions joined by commas, as --pen-digits
    takes them)."""
    digits = load() if digits is None else digits
    wanted = set(SOURCES if sources == "all" else sources.split(","))
    return [d for d in digits if d.source in wanted]


STYLED = 0.5  # the share of digits that have styles (styles.STYLES) drawn in one each epoch
# more pictures of each digit in these styles, each epoch: the simple CNN read people's European
# 1s as 7s until their flags came about as often as 7s (docs/styles.md)
EXTRA = {"flag": 2, "flag and base": 2, "leaning with a flag": 2, "slashed": 1, "closed": 1}


SPACING = 0.03  # points along a stroke, in units of the digit's longer side
FIELD = 40  # the distance field's grid: FIELD x FIELD points
REACH = 0.7  # ... over -REACH..REACH of the longer side about the strokes' centre
WIDTHS = (0.07, 0.16)  # pen widths drawn, as fractions of the longer side (the page: 18/190)
SUPER = 4  # samples per pixel, each way


def path_points(digit: PenDigit) -> np.ndarray:
    """K x 2: points along the digit's strokes at most SPACING apart, in units of its longer
    side about the centre of its box (x right, y down)."""
    strokes = [np.array(s, dtype=np.float64) for s in digit.strokes]
    every = np.concatenate(strokes)
    low, high = every.min(0), every.max(0)
    side = max(float((high - low).max()), 1.0)
    points = []
    for p in strokes:
        p = (p - (low + high) / 2) / side
        steps = np.ceil(np.hypot(*np.diff(p, axis=0).T) / SPACING).astype(int).clip(1)
        start = np.repeat(p[:-1], steps, 0)  # each segment's start, once per point on it
        along = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
        points += [start + (along / np.repeat(steps, steps))[:, None]
                   * np.repeat(np.diff(p, axis=0), steps, 0), p[-1:]]
    return np.concatenate(points)


NEAR = 4  # grid points each way from a path point whose distance to it is measured


def distance_fields(digits: list[PenDigit]) -> tuple[torch.Tensor, torch.Tensor]:
    """N x 1 x FIELD x FIELD: each grid point's distance to the nearest point of the digit's
    strokes, and N x 2: the strokes' box (width, height), both in units of its longer side.

    Only distances up to NEAR grid steps are measured (every pen width needs less); farther
    grid points read 1. The strokes lie within -0.5..0.5, so all of those are on the grid."""
    paths = [path_points(d) for d in digits]
    sizes = torch.from_numpy(np.stack([p.max(0) - p.min(0) for p in paths])).float()
    points = torch.from_numpy(np.concatenate(paths)).float()  # P x 2, every digit's
    owner = torch.repeat_interleave(torch.tensor([len(p) for p in paths]))  # P: its digit
    step = 2 * REACH / (FIELD - 1)
    cell = ((points + REACH) / step).round()  # P x 2: the grid point nearest each point
    base = (owner * FIELD + cell[:, 1].long()) * FIELD + cell[:, 0].long()  # its place in all
    offset = cell * step - REACH - points  # P x 2: from the point to that grid point
    reach = torch.arange(-NEAR, NEAR + 1)
    dy, dx = (a.reshape(-1) for a in torch.meshgrid(reach, reach, indexing="ij"))
    window, moves = dy * FIELD + dx, torch.stack([dx, dy], -1).float() * step  # 81; 81 x 2
    fields = torch.ones(len(digits) * FIELD * FIELD)
    for first in range(0, len(points), 100_000):
        part = slice(first, first + 100_000)
        distance = (offset[part, None] + moves).square().sum(-1).sqrt()  # B x 81
        fields.scatter_reduce_(0, (base[part, None] + window).view(-1), distance.view(-1),
                               "amin")
    return fields.view(-1, 1, FIELD, FIELD), sizes


@dataclass(frozen=True)
class PenPictures:
    """Pen digits held ready to be drawn as pictures, all at once, with any pen width.

    What `draw` gives is what the page gives for the same strokes drawn with a round pen of
    that width (pipeline/data.prepare_digit: the ink's box scaled to fit 20 x 20, centred by
    mass in 28 x 28, normalised), within a small tolerance (tests/test_pens.py): each pixel
    averages SUPER x SUPER samples of the pen's ink, read off the digit's distance field."""
    fields: torch.Tensor  # (N + V) x 1 x FIELD x FIELD (distance_fields): the digits, then
    sizes: torch.Tensor  # (N + V) x 2                    the V restyled ones (styles.py)
    labels: torch.Tensor  # N, int64
    twins: torch.Tensor  # N x S, int64: the rows of each digit's restyled twins (S at most),
    counts: torch.Tensor  # N, int64: how many it has   its own row after those
    extra: torch.Tensor  # E x 2, int64: digit and twin drawn again each epoch (EXTRA)

    @classmethod
    def of(cls, digits: list[PenDigit], device: torch.device, styled: bool = True) -> PenPictures:
        """The digits made ready; with their styles (`styled`) or only as written."""
        rng = np.random.default_rng(0)  # the twins are the same in every run
        twins = [[(style, v) for style in styles.STYLES.get(d.label, ()) if styled
                  and (v := styles.restyled(d, style, rng)) is not None] for d in digits]
        fields, sizes = distance_fields(digits + [v for t in twins for _, v in t])
        counts = torch.tensor([len(t) for t in twins])
        first = len(digits) + torch.cumsum(counts, 0) - counts  # each digit's first twin
        most = max(len(s) for s in styles.STYLES.values())
        rows = first[:, None] + torch.arange(most)
        rows = torch.where(torch.arange(most) < counts[:, None], rows,
                           torch.arange(len(digits))[:, None])
        labels = torch.tensor([d.label for d in digits])
        extra = [(i, k) for i, t in enumerate(twins) for k, (style, _) in enumerate(t)
                 for _ in range(EXTRA.get(style, 0))]  # (digit, its twin) EXTRA[style] times
        extra = torch.tensor(extra, dtype=torch.long).view(-1, 2)
        return cls(*(t.to(device) for t in (fields, sizes, labels, rows, counts, extra)))

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def per_epoch(self) -> int:
        """How many pictures an epoch draws: every digit, and the extra ones."""
        return len(self) + len(self.extra)

    def draw(self, widths: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """N pen widths (fractions of each digit's longer side) -> N x 1 x 28 x 28, normalised.
        `rows`: which of fields to draw for each (`epoch` picks); the digits as written if not
        given."""
        device = self.fields.device
        rows = torch.arange(len(self), device=device) if rows is None else rows
        fields, sizes = self.fields[rows], self.sizes[rows]
        box = sizes + widths[:, None]  # the ink's box: the strokes' and the pen around them
        pixels = (box * 20 / box.amax(1, keepdim=True)).round().clamp(1, 20)  # N x 2: w, h
        per_unit = pixels / box  # N x 2: pixels per unit, in x and y
        at = (torch.arange(20 * SUPER, device=device) + 0.5) / SUPER  # sample centres, pixels
        xs = (at[None] / per_unit[:, :1] - box[:, :1] / 2) / REACH  # N x 80, -1..1 of the field
        ys = (at[None] / per_unit[:, 1:] - box[:, 1:] / 2) / REACH
        grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), -1)
        near = F.grid_sample(fields, grid, align_corners=True, padding_mode="border")
        soft = per_unit.amin(1).view(-1, 1, 1, 1) * SUPER  # samples per unit: a sample's edge
        ink = ((widths.view(-1, 1, 1, 1) / 2 - near) * soft + 0.5).clamp(0, 1)
        small = F.avg_pool2d(ink, SUPER)  # N x 1 x 20 x 20, the box at its top left
        inside = (torch.arange(20, device=device) < pixels[:, :1, None]) & \
                 (torch.arange(20, device=device)[:, None] < pixels[:, 1:, None])
        return normalise(centred(small * inside[:, None], pixels))

    def widths(self, generator: torch.Generator, n: int | None = None) -> torch.Tensor:
        low, high = WIDTHS
        n = len(self) if n is None else n
        return (low + (high - low) * torch.rand(n, generator=generator)).to(self.fields.device)

    def epoch(self, generator: torch.Generator) -> common.Split:
        """An epoch's pictures and their labels, all chosen by `generator`: each digit with a
        new pen width, STYLED of those that have styles in one of them (chosen evenly), then
        the `extra` twins, each with a new pen width too."""
        n, device = len(self), self.twins.device
        widths = self.widths(generator, self.per_epoch)
        pick, which = torch.rand(2, n, generator=generator).to(device)
        own = torch.arange(n, device=device)
        style = (which * self.counts).long().clamp_max(self.twins.shape[1] - 1)
        rows = torch.where((pick < STYLED) & (self.counts > 0), self.twins[own, style], own)
        digits, twins = self.extra.unbind(1)
        return common.Split(self.draw(widths, torch.cat([rows, self.twins[digits, twins]])),
                            self.labels[torch.cat([own, digits])])


def centred(small: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """N x 1 x 20 x 20, each digit's box at the top left (`pixels`: its w, h) -> N x 1 x 28 x 28
    with its centre of mass moved to the middle by whole pixels, as prepare_digit does."""
    n, device = len(small), small.device
    mass = small.sum((1, 2, 3)).clamp_min(1e-6)
    at = torch.arange(20, device=device, dtype=small.dtype)
    cx = (small.sum(2).squeeze(1) * at).sum(1) / mass
    cy = (small.sum(3).squeeze(1) * at).sum(1) / mass
    left = torch.minimum((14 - cx).round().clamp_min(0), 28 - pixels[:, 0]).long()
    top = torch.minimum((14 - cy).round().clamp_min(0), 28 - pixels[:, 1]).long()
    padded = F.pad(small[:, 0], (28, 8, 28, 8))  # N x 56 x 56: the box at (28, 28)
    rows = (torch.arange(28, device=device) - top[:, None] + 28)  # N x 28
    cols = (torch.arange(28, device=device) - left[:, None] + 28)
    batch = torch.arange(n, device=device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
