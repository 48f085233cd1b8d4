"""People's pen digits: UNIPEN's isolated digits as this project ships them (data/unipen/).

11,243 digits written with a pen on tablets by about 140 people at six institutions, none of
them MNIST's (CC BY 4.0; data/unipen/README.md gives the attribution and the format). Each is
the pen's path: strokes of (x, y) points in the tablet's own units, y pointing down.
"""
from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError

PEN_DIGITS = Path(__file__).resolve().parent.parent / "data" / "unipen" / "digits.jsonl.gz"
SOURCES = ("syn", "apb", "app", "apa", "ibm", "ced")  # the six institutions


@dataclass(frozen=True)
class PenDigit:
    label: int  # 0-9
    writer: str
    source: str  # the institution: one of SOURCES
    strokes: tuple[tuple[tuple[int, int], ...], ...]  # pen-down strokes of (x, y) points


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
