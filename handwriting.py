"""Handwriting from outside MNIST: does a trained network read digits people wrote elsewhere?

    python handwriting.py pictures hand/                  # the digits as pictures, and strokes
    python handwriting.py read simple_cnn net.safetensors hand/    # through --predict

The digits are UCI's optdigits test set as scikit-learn ships it (`load_digits`: 1,797
digits by 13 writers, none of them MNIST's; `pip install scikit-learn`): each 8 x 8 count of
ink (0-16) scaled to a 32 x 32 picture of dark ink on white paper with a margin, the size of
the bitmaps they were counted from. `read` gives every picture to the script's --predict, as
a learner would, and prints the accuracy and what each digit was most often taken for.
strokes.json holds each digit's strokes on the page's pad, traced along its skeleton, for
drawing them with the mouse (not yet measured).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
NAME = re.compile(r"^(\d{4})-(\d)\.png$")  # 0123-7.png: the 124th digit, a 7


def write_pictures(folder: Path) -> int:
    """optdigits as PNG pictures in `folder`, and strokes.json: each one's strokes on the
    page's 280 x 280 pad. Returns how many."""
    from PIL import Image
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("handwriting.py pictures needs scikit-learn: pip install scikit-learn")
    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    strokes = {}
    for i, (counts, label) in enumerate(zip(digits.images, digits.target)):
        ink = Image.fromarray((counts / 16.0).astype(np.float32)).resize(
            (32, 32), Image.Resampling.BILINEAR)  # 8 x 8 counts -> 32 x 32 grey ink
        ink = np.clip(np.asarray(ink), 0, 1)
        paper = np.ones((40, 40), dtype=np.float32)
        paper[4:36, 4:36] = 1 - ink  # dark ink on white, 4 pixels of margin
        name = f"{i:04d}-{label}.png"
        Image.fromarray((paper * 255).round().astype(np.uint8)).save(folder / name)
        fine = np.clip(np.asarray(Image.fromarray((counts / 16.0).astype(np.float32)).resize(
            (64, 64), Image.Resampling.BICUBIC)), 0, 1)  # a finer picture to trace
        strokes[name] = [[(40 + 3.125 * x, 40 + 3.125 * y) for y, x in s]
                         for s in trace(thin(fine > 0.45))]  # 64 x 64 -> 200 px of the pad
    (folder / "strokes.json").write_text(json.dumps(strokes))
    return len(strokes)


def thin(ink: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning (1984): a binary picture -> its one-pixel-wide skeleton."""
    ink = np.pad(ink.astype(bool), 1)
    changed = True
    while changed:
        changed = False
        for first in (True, False):
            p = [np.roll(ink, shift, (0, 1)) for shift in
                 ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
            # p[0..7]: the neighbours north, north-east, east, ... clockwise
            count = sum(q.astype(int) for q in p)
            turns = sum((~p[k] & p[(k + 1) % 8]).astype(int) for k in range(8))
            a, b = (p[0] & p[2] & p[4], p[2] & p[4] & p[6]) if first else \
                (p[0] & p[2] & p[6], p[0] & p[4] & p[6])
            remove = ink & (count >= 2) & (count <= 6) & (turns == 1) & ~a & ~b
            if remove.any():
                ink &= ~remove
                changed = True
    return ink[1:-1, 1:-1]


def trace(skeleton: np.ndarray) -> list[list[tuple[int, int]]]:
    """A skeleton -> strokes, each a list of (row, column): from an end (else anywhere),
    step to an unvisited neighbour, straight ones first, until there is none."""
    left = {tuple(p) for p in np.argwhere(skeleton)}
    near = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    strokes, drawn = [], set()
    while left:
        start = min(left, key=lambda p: (sum((p[0] + dy, p[1] + dx) in left for dy, dx in near), p))
        stroke = [start]
        joined = [(start[0] + dy, start[1] + dx) for dy, dx in near
                  if (start[0] + dy, start[1] + dx) in drawn]
        stroke = joined[:1] + stroke  # a branch starts on the stroke it leaves
        left.discard(start)
        while True:
            y, x = stroke[-1]
            step = next(((y + dy, x + dx) for dy, dx in near if (y + dy, x + dx) in left), None)
            if step is None:
                break
            stroke.append(step)
            left.discard(step)
        drawn.update(stroke)
        if len(stroke) >= 3:
            strokes.append(stroke)
    return strokes


def labelled(folder: Path) -> list[tuple[Path, int]]:
    pictures = sorted((p, int(NAME.match(p.name).group(2))) for p in folder.iterdir()
                      if NAME.match(p.name))
    if not pictures:
        raise SystemExit(f"{folder}: no pictures (python handwriting.py pictures {folder})")
    return pictures


def read(script: str, weights: str, folder: Path) -> tuple[float, Counter]:
    """The script's --predict on every picture: the accuracy (%) and the mistakes."""
    pictures = labelled(folder)
    out = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--device", "cpu",
                          "--load", weights, "--predict", *map(str, (p for p, _ in pictures))],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{script}.py --predict: {out.stderr.strip()}")
    answers = [int(line.rsplit(": ", 1)[1].split()[0]) for line in out.stdout.splitlines()]
    return score([label for _, label in pictures], answers)


def score(labels: list[int], answers: list[int]) -> tuple[float, Counter]:
    mistakes = Counter((a, b) for a, b in zip(labels, answers) if a != b)
    return 100.0 * sum(a == b for a, b in zip(labels, answers)) / len(labels), mistakes


def report(how: str, accuracy: float, mistakes: Counter, n: int) -> None:
    common = ", ".join(f"{a} as {b} x{k}" for (a, b), k in mistakes.most_common(5))
    print(f"{how}: {accuracy:.1f}% of {n} ({common or 'no mistakes'})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("pictures", "read"))
    p.add_argument("args", nargs="+", metavar="ARG", help="FOLDER, or SCRIPT WEIGHTS FOLDER")
    args = p.parse_args(argv)
    if args.what == "pictures":
        print(f"{write_pictures(Path(args.args[0]))} pictures in {args.args[0]}")
        return
    if len(args.args) != 3:
        p.error(f"{args.what} takes SCRIPT WEIGHTS FOLDER")
    script, weights, folder = args.args[0].removesuffix(".py"), args.args[1], Path(args.args[2])
    accuracy, mistakes = read(script, weights, folder)
    report("as pictures through --predict", accuracy, mistakes, len(labelled(folder)))


if __name__ == "__main__":
    main()
