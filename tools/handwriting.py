"""Handwriting from outside MNIST: does a trained network read digits people wrote elsewhere?

    python -m tools.handwriting pictures hand/                  # the digits as pictures
    python -m tools.handwriting read simple_cnn net.safetensors hand/    # through --predict
    python -m tools.handwriting traced hand/ traced/            # the strokes `drawn` draws, as pictures
    python -m tools.handwriting drawn simple_cnn net.safetensors hand/   # drawn on --serve's page

The digits are UCI's optdigits test set as scikit-learn ships it (`load_digits`: 1,797
digits by 13 writers, none of them MNIST's; `pip install scikit-learn`): each 8 x 8 count of
ink (0-16) scaled to 32 x 32, the size of the bitmaps they were counted from, as dark ink on
white paper with a margin of 4 pixels. `read` gives every picture to the script's --predict,
as a learner would, and prints the accuracy and what each digit was most often taken for.
`drawn` draws every picture on the pad of the script's `--serve` page in Chromium with the
mouse, as a learner draws: its ink, scaled to 200 x 200, thinned to a line one pixel wide
(Zhang-Suen), walked from end to end in strokes, and drawn along them with the page's own
round pen; it reads the answer the page shows once the last request has landed. It needs
Playwright and Debian's Chromium, as the page's browser test does (`--every N` draws every
Nth picture), and prints how long each mouse move took while the answers arrived. The
tracing loses some of a picture (a short, thick stroke can thin to a stub, a loop filled in
can thin to a line): `traced` draws every picture's strokes with a pen like the page's,
beside the picture, and prints how many pictures lost more than 5% of their ink by it.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from tools import browser
from pipeline.errors import UserError

ROOT = Path(__file__).resolve().parent.parent  # the scripts
NAME = re.compile(r"^(\d{4})-(\d)\.png$")  # 0123-7.png: the 124th digit, a 7
PEN = 18  # the page's pen, in pad pixels (pipeline/web/pad.js: ink.lineWidth)


def write_pictures(folder: Path) -> int:
    """optdigits as 40 x 40 PNG pictures in `folder`, named NNNN-D.png; returns how many."""
    from PIL import Image
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("handwriting.py pictures needs scikit-learn: pip install scikit-learn")
    digits = load_digits()
    folder.mkdir(parents=True, exist_ok=True)
    for i, (counts, label) in enumerate(zip(digits.images, digits.target)):
        ink = Image.fromarray((counts / 16.0).astype(np.float32)).resize(
            (32, 32), Image.Resampling.BILINEAR)  # 8 x 8 counts -> 32 x 32 grey ink
        ink = np.clip(np.asarray(ink), 0, 1)
        paper = np.ones((40, 40), dtype=np.float32)
        paper[4:36, 4:36] = 1 - ink  # dark ink on white, 4 pixels of margin
        name = f"{i:04d}-{label}.png"
        Image.fromarray((paper * 255).round().astype(np.uint8)).save(folder / name)
    return len(digits.target)


def labelled(folder: Path) -> list[tuple[Path, int]]:
    pictures = sorted((p, int(NAME.match(p.name).group(2))) for p in folder.iterdir()
                      if NAME.match(p.name))
    if not pictures:
        raise SystemExit(f"{folder}: no pictures (python -m tools.handwriting pictures {folder})")
    return pictures


def read(script: str, weights: str, folder: Path) -> tuple[float, Counter, int]:
    """The script's --predict on every picture: the accuracy (%), the mistakes, how many."""
    pictures = labelled(folder)
    out = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--device", "cpu",
                          "--load", weights, "--predict", *map(str, (p for p, _ in pictures))],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{script}.py --predict: {out.stderr.strip()}")
    answers = [int(line.rsplit(": ", 1)[1].split()[0]) for line in out.stdout.splitlines()]
    return (*score([label for _, label in pictures], answers), len(pictures))


TRACED = 200  # pictures are thinned at 5 times their 40 x 40: more of short, thick strokes stays


def pen_path(picture: Path, step: float = 7) -> list[list[tuple[float, float]]]:
    """A picture's strokes in the page's pad pixels (280 x 280): its ink thinned at 200 x 200,
    a point each `step` pixels along (a mouse moved at 420 pixels a second, 60 events a second)."""
    from PIL import Image
    grey = Image.open(picture).convert("L").resize((TRACED, TRACED), Image.Resampling.BICUBIC)
    ink = np.clip(1 - np.asarray(grey, dtype=np.float32) / 255, 0, 1)
    scale = browser.PAD / TRACED
    return [spaced([((x + 0.5) * scale, (y + 0.5) * scale) for x, y in stroke], step)
            for stroke in strokes(thin(ink))]


def spaced(stroke: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """The stroke's points at least `step` apart, from its first to its last."""
    kept = stroke[:1]
    for x, y in stroke[1:-1]:
        if np.hypot(x - kept[-1][0], y - kept[-1][1]) >= step:
            kept.append((x, y))
    return kept + stroke[-1:] if len(stroke) > 1 else kept


def traced(folder: Path, out: Path) -> tuple[float, int]:
    """Every picture's strokes drawn as the page's pen draws them (round, 18 pixels wide on
    280 x 280) into `out`, beside the picture; the share (%) of pictures with more than 5% of
    their ink (the pixels at least half inked) farther than 3 picture pixels from the strokes,
    and how many pictures."""
    from PIL import Image, ImageDraw
    try:
        from scipy import ndimage
    except ImportError:
        raise SystemExit("handwriting.py traced needs SciPy (pip install scikit-learn brings it)")
    out.mkdir(parents=True, exist_ok=True)
    lost = 0
    pictures = labelled(folder)
    for picture, _ in pictures:
        drawing = Image.new("L", (browser.PAD, browser.PAD), 255)
        pen = ImageDraw.Draw(drawing)
        for stroke in pen_path(picture):
            pen.line(stroke, fill=0, width=PEN, joint="curve")
            for x, y in (stroke[0], stroke[-1]):
                pen.ellipse([x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2], fill=0)
        shown = Image.open(picture).convert("L").resize(drawing.size, Image.Resampling.BILINEAR)
        ink, line = np.asarray(shown) < 128, np.asarray(drawing) < 128
        far = ndimage.distance_transform_edt(~line) > 3 * browser.PAD / 40
        lost += (ink & far).sum() > 0.05 * ink.sum()
        side = Image.new("L", (2 * browser.PAD, browser.PAD), 255)
        side.paste(shown, (0, 0))
        side.paste(drawing, (browser.PAD, 0))
        side.save(out / picture.name)
    return 100.0 * lost / len(pictures), len(pictures)


def drawn(script: str, weights: str, folder: Path,
          every: int = 1) -> tuple[float, Counter, int, list[float]]:
    """Every `every`th picture drawn on the pad of the script's --serve page with the mouse,
    in Chromium: the accuracy (%) of what the page shows, the mistakes, how many, and the
    seconds each mouse move took while the answers arrived."""
    from playwright.sync_api import sync_playwright
    pictures = labelled(folder)[::every]
    server = subprocess.Popen([sys.executable, str(ROOT / f"{script}.py"), "--device", "cpu",
                               "--load", weights, "--serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers, moves = [], []
    try:
        line = server.stdout.readline()
        if not line.startswith("Serving"):
            raise SystemExit(f"{script}.py --serve: {line}{server.stderr.read().strip()}")
        with sync_playwright() as p:
            chromium = browser.launch(p)
            page = browser.open_page(chromium, line.split(" at ", 1)[1].split()[0])
            for picture, _ in pictures:
                moves += browser.draw(page, pen_path(picture))
                answers.append(int(browser.shown(page)))
            chromium.close()
    finally:
        server.terminate()
        server.wait()
    return (*score([label for _, label in pictures], answers), len(pictures), moves)


def thin(ink: np.ndarray, levels: int = 8) -> np.ndarray:
    """`ink` (H x W in [0, 1]) worn down to lines 1 pixel wide along its darkest ridges.

    Zhang and Suen's thinning (1984) of the pixels at least half inked, taking off the
    palest first: at each of `levels` rising shades only pixels up to that shade may go, so
    what is left of a thick, blurred stroke is its middle, where the pen pressed hardest."""
    img = np.pad((ink >= 0.5).astype(np.uint8), 1)
    shade = np.pad(ink, 1)
    for level in [*np.linspace(0.5, 1, levels + 1)[1:], np.inf]:
        while peel(img, shade <= level):
            pass
    return img[1:-1, 1:-1].astype(bool)


def peel(img: np.ndarray, may: np.ndarray) -> bool:
    """One pass of Zhang and Suen's two steps over `img` (0/1, changed in place), taking off
    only pixels where `may`; whether any went."""
    removed = False
    for step in (0, 1):
        # p2..p9: the 8 neighbours clockwise from the one above
        p = [np.roll(img, shift, (0, 1)) for shift in
             ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))]
        count = sum(p)
        turns = sum((p[i] == 0) & (p[(i + 1) % 8] == 1) for i in range(8))
        if step == 0:
            side = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
        else:
            side = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
        gone = (img == 1) & may & (count >= 2) & (count <= 6) & (turns == 1) & side
        if gone.any():
            img[gone] = 0
            removed = True
    return removed


def strokes(line: np.ndarray) -> list[list[tuple[int, int]]]:
    """A thinned picture's lines as pen strokes: lists of (x, y), each from an end if it has one.

    Neighbouring pixels are joined (a diagonal only where no pixel beside both joins them
    already), and each stroke goes on while it can, turning as little as it may."""
    on = {(int(x), int(y)) for y, x in zip(*np.nonzero(line))}
    step = [(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dx or dy]
    edges = {a: set() for a in on}
    for (x, y) in on:
        for dx, dy in step:
            b = (x + dx, y + dy)
            if b in on and not (dx and dy and ((x + dx, y) in on or (x, y + dy) in on)):
                edges[(x, y)].add(b)
    paths, drawn = [], set()
    while live := [a for a in sorted(edges) if edges[a]]:
        ends = [a for a in live if len(edges[a]) % 2]  # where a line ends or branches
        path, at, heading = [(ends or live)[0]], (ends or live)[0], (0, 0)
        while edges[at]:
            nxt = max(sorted(edges[at]), key=lambda b: (b[0] - at[0]) * heading[0]
                      + (b[1] - at[1]) * heading[1])
            edges[at].discard(nxt)
            edges[nxt].discard(at)
            heading, at = (nxt[0] - at[0], nxt[1] - at[1]), nxt
            path.append(at)
        paths.append(path)
        drawn.update(path)
    return paths + [[a] for a in sorted(on - drawn)]  # a lone pixel is a dot


def score(labels: list[int], answers: list[int]) -> tuple[float, Counter]:
    mistakes = Counter((a, b) for a, b in zip(labels, answers) if a != b)
    return 100.0 * sum(a == b for a, b in zip(labels, answers)) / len(labels), mistakes


def report(how: str, accuracy: float, mistakes: Counter, n: int) -> None:
    common = ", ".join(f"{a} as {b} x{k}" for (a, b), k in mistakes.most_common(5))
    print(f"{how}: {accuracy:.1f}% of {n} ({common or 'no mistakes'})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("pictures", "read", "traced", "drawn"))
    p.add_argument("args", nargs="+", metavar="ARG",
                   help="FOLDER (pictures), FOLDER OUT (traced), or SCRIPT WEIGHTS FOLDER")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="drawn: draw every Nth picture (default: all)")
    args = p.parse_args(argv)
    if args.what == "pictures":
        print(f"{write_pictures(Path(args.args[0]))} pictures in {args.args[0]}")
        return
    if args.what == "traced":
        if len(args.args) != 2:
            p.error("traced takes FOLDER OUT")
        lost, n = traced(Path(args.args[0]), Path(args.args[1]))
        print(f"{n} pictures and their strokes in {args.args[1]}; {lost:.1f}% of them lost more "
              f"than 5% of their ink (farther than 3 pixels from the strokes)")
        return
    if len(args.args) != 3:
        p.error(f"{args.what} takes SCRIPT WEIGHTS FOLDER")
    script, weights, folder = args.args[0].removesuffix(".py"), args.args[1], Path(args.args[2])
    if args.what == "read":
        report("as pictures through --predict", *read(script, weights, folder))
    else:
        try:
            accuracy, mistakes, n, moves = drawn(script, weights, folder, args.every)
        except UserError as e:
            raise SystemExit(f"error: {e}")
        report("drawn on the page with the mouse", accuracy, mistakes, n)
        moves.sort()
        print(f"each mouse move: median {1000 * moves[len(moves) // 2]:.1f} ms, "
              f"90th percentile {1000 * moves[int(0.9 * len(moves))]:.1f} ms, of {len(moves)}")


if __name__ == "__main__":
    main()
