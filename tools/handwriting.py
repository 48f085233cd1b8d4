"""People's handwriting from outside MNIST: does a trained network read pen digits it never saw?

    python -m tools.handwriting pictures hand/ --source ced          # one institution's digits
    python -m tools.handwriting read simple_cnn net.safetensors hand/  # through --predict
    python -m tools.handwriting drawn simple_cnn net.safetensors --source ced --every 10
    python -m tools.handwriting folds simple_cnn --seeds 3 --draw 60 --data-dir ../shared/data

The digits are people's pen digits (data/unipen/, pipeline/pens.py): 11,243 written with a
pen on tablets at six institutions. `pictures` draws one institution's (or all) as the page
draws a stroke: scaled to fit 190 pixels of the 280 x 280 pad, a round pen 18 pixels wide,
dark on white, saved as PNG named NNNNN-D.png (the digit's line in the file, its label).
`read` gives every picture to the script's --predict, as a learner would, and prints the
accuracy and what each digit was most often taken for. `drawn` replays the digits on the pad of
the script's `--serve` page in Chromium with the mouse along the writer's own pen path (a
point every 4 pad pixels or more) and reads the answer the page shows once the last request
has landed (Playwright and Debian's Chromium, as the page's browser test).

`folds` leaves one institution out at a time: it trains the script with `--recipe handwriting
--pen-digits` the other five, for each seed, and measures the sixth as pictures (all of its
digits) and drawn (--draw of them, evenly spread). For `ibm`, whose file holds broken
segments (data/unipen/README.md), it gives the figure with and without the digits `broken()`
picks out.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable

from tools import browser
import numpy as np

from pipeline import pens
from pipeline.errors import UserError

ROOT = Path(__file__).resolve().parent.parent  # the scripts
NAME = re.compile(r"^(\d{5})-(\d)\.png$")  # 00123-7.png: the file's 124th digit, a 7
PEN = 18  # the page's pen, in pad pixels (pipeline/web/pad.js: ink.lineWidth)
SUPER = 4  # pictures are drawn 4 times larger, then shrunk: the canvas's smooth edges


def numbered(source: str | None) -> list[tuple[int, pens.PenDigit]]:
    """The file's digits (of one institution, if given) with their place in the file."""
    return [(i, d) for i, d in enumerate(pens.load()) if source in (None, d.source)]


def picture(digit: pens.PenDigit):
    """The digit as the page draws it: a 280 x 280 grey picture, dark ink on white."""
    from PIL import Image, ImageDraw
    big = Image.new("L", (browser.PAD * SUPER, browser.PAD * SUPER), 255)
    pen, r = ImageDraw.Draw(big), PEN * SUPER / 2
    for stroke in pens.on_pad(digit):
        points = [(x * SUPER, y * SUPER) for x, y in stroke]
        if len(points) > 1:
            pen.line(points, fill=0, width=PEN * SUPER, joint="curve")
        for x, y in points:  # round caps and joints
            pen.ellipse([x - r, y - r, x + r, y + r], fill=0)
    return big.resize((browser.PAD, browser.PAD), Image.Resampling.BOX)


def write_pictures(folder: Path, source: str | None) -> int:
    """The digits as PNG pictures in `folder`, named NNNNN-D.png; returns how many."""
    chosen = numbered(source)
    save_pictures(folder, chosen)
    return len(chosen)


def save_pictures(folder: Path, chosen: list[tuple[int, pens.PenDigit]]) -> None:
    """Each digit as picture(digit) in `folder`, named by its number and label: NNNNN-D.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, digit in chosen:
        picture(digit).save(folder / f"{i:05d}-{digit.label}.png")


def spread(items: list, n: int) -> list:
    """At most n of `items`, evenly spread."""
    return items if len(items) <= n else [items[i * len(items) // n] for i in range(n)]


def labelled(folder: Path) -> list[tuple[Path, int]]:
    pictures = sorted((p, int(NAME.match(p.name).group(2))) for p in folder.iterdir()
                      if NAME.match(p.name))
    if not pictures:
        raise SystemExit(f"{folder}: no pictures (python -m tools.handwriting pictures {folder})")
    return pictures


SECOND = re.compile(r"\u2014 or \D*(\d)")  # --predict torn: "7 (62.0%) — or a 1 as ..."


def read(script: str, weights: str,
         folder: Path) -> tuple[float, Counter, int, list[bool], list[int | None]]:
    """The script's --predict on every picture: the accuracy (%), the mistakes, how many,
    whether each picture (in name order) was read right, and the digit it named second where
    it was torn between two."""
    pictures = labelled(folder)
    out = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--device", "cpu",
                          "--load", weights, "--predict", *map(str, (p for p, _ in pictures))],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{script}.py --predict: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    answers = [int(line.rsplit(": ", 1)[1].split()[0]) for line in lines]
    seconds = [int(m.group(1)) if (m := SECOND.search(line)) else None for line in lines]
    labels = [label for _, label in pictures]
    return (*score(labels, answers), len(pictures), [a == b for a, b in zip(labels, answers)],
            seconds)


STEP = 4  # pad pixels between two mouse moves, at least


def pen_path(digit: pens.PenDigit) -> list[list[tuple[float, float]]]:
    """The writer's strokes in the pad's pixels, a point every STEP pixels or more."""
    return [spaced([tuple(p) for p in stroke], STEP) for stroke in pens.on_pad(digit)]


def spaced(stroke: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """The stroke's points at least `step` apart, from its first to its last."""
    kept = stroke[:1]
    for x, y in stroke[1:-1]:
        if ((x - kept[-1][0]) ** 2 + (y - kept[-1][1]) ** 2) ** 0.5 >= step:
            kept.append((x, y))
    return kept + stroke[-1:] if len(stroke) > 1 else kept


def drawn(script: str, weights: str,
          digits: list[pens.PenDigit]) -> tuple[float, Counter, int, list[float]]:
    """Each digit replayed on the pad of the script's --serve page with the mouse, in
    Chromium: the accuracy (%) of what the page shows, the mistakes, how many, and the
    seconds each mouse move took while the answers arrived."""
    answers, moves = shown_for(script, weights, [pen_path(d) for d in digits])
    return (*score([d.label for d in digits], answers), len(digits), moves)


def shown_for(script: str, weights: str,
              drawings: list[list[list[tuple[float, float]]]]) -> tuple[list[int], list[float]]:
    """Each drawing (strokes in pad pixels) drawn with the mouse on the pad of the script's
    --serve page, in Chromium: the digit the page shows for each, and every move's seconds."""
    from playwright.sync_api import sync_playwright
    answers, moves = [], []
    with serving(script, weights) as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = browser.open_page(chromium, url)
        for strokes in drawings:
            moves += browser.draw(page, strokes)
            answers.append(int(browser.shown(page)))
        chromium.close()
    return answers, moves


@contextlib.contextmanager
def serving(script: str, weights: str):
    """The script's --serve page for `weights`, on a free port, while in the block: its address."""
    server = subprocess.Popen([sys.executable, str(ROOT / f"{script}.py"), "--device", "cpu",
                               "--load", weights, "--serve", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("Serving"):
            raise SystemExit(f"{script}.py --serve: {line}{server.stderr.read().strip()}")
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        server.terminate()
        server.wait()


def broken(digit: pens.PenDigit) -> bool:
    """A segment that cannot be a whole digit written alone, by its shape: a dot (fewer than 5
    points); one straight stroke (no more than 1.2 times as long as from its start to its end:
    a lone bar of a 4 or a 7) unless it is a 1 standing up (within 45 degrees of upright); or
    more than twice as wide as tall (two digits side by side). UNIPEN's README says `ibm`
    holds about 1 in 20 such; this picks out 62 of its 1,571 digits and 11 of the other 9,672."""
    points = np.concatenate([np.array(s, dtype=float) for s in digit.strokes])
    width, height = np.ptp(points, axis=0)
    if len(points) < 5:
        return True
    if len(digit.strokes) == 1:
        length = np.hypot(*np.diff(points, axis=0).T).sum()
        (dx, dy) = np.abs(points[-1] - points[0])
        if 0 < length <= 1.2 * np.hypot(dx, dy) and (digit.label != 1 or dx > dy):
            return True
    return width > 2 * height


def score(labels: list[int], answers: list[int]) -> tuple[float, Counter]:
    mistakes = Counter((a, b) for a, b in zip(labels, answers) if a != b)
    return 100.0 * sum(a == b for a, b in zip(labels, answers)) / len(labels), mistakes


def report(how: str, accuracy: float, mistakes: Counter, n: int) -> None:
    common = ", ".join(f"{a} as {b} x{k}" for (a, b), k in mistakes.most_common(5))
    print(f"{how}: {accuracy:.1f}% of {n} ({common or 'no mistakes'})", flush=True)


def train(script: str, held_out: str, seed: int, flags: list[str], weights: Path) -> str:
    """The script trained with --recipe handwriting on every institution but `held_out`;
    its Finished line."""
    others = ",".join(s for s in pens.SOURCES if s != held_out)
    out = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--recipe", "handwriting",
                          "--pen-digits", others, "--seed", str(seed), "--save-model",
                          str(weights), "--log-interval", "1000", *flags],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{script}.py: {out.stderr.strip()}")
    return next(line for line in out.stdout.splitlines() if line.startswith("Finished"))


def fold(script: str, held_out: str, seeds: list[int], flags: list[str], draw: int,
         work: Path, also: Callable[[str, Path], None] | None = None) -> dict[str, list[float]]:
    """One institution left out: per seed, MNIST's final accuracy and its digits read as
    pictures (all; and, for ibm, without the broken ones) and `draw` of them, evenly spread,
    drawn; `also(held_out, weights)` measures more with each seed's network."""
    digits = numbered(held_out)
    folder = work / held_out
    write_pictures(folder, held_out)
    whole = [not broken(d) for _, d in digits]
    got: dict[str, list[float]] = {"pictures": [], "whole": [], "drawn": [], "mnist": []}
    for seed in seeds:
        weights = work / f"{script}-{held_out}-{seed}.safetensors"
        finished = train(script, held_out, seed, flags, weights)
        print(f"{held_out}, seed {seed}: {finished}", flush=True)
        got["mnist"].append(float(re.search(r"final ([\d.]+)%", finished).group(1)))
        accuracy, mistakes, n, right, _ = read(script, str(weights), folder)
        report("  as pictures", accuracy, mistakes, n)
        got["pictures"].append(accuracy)
        got["whole"].append(100.0 * sum(r for r, w in zip(right, whole) if w) / sum(whole))
        if held_out == "ibm":
            print(f"  as pictures, without {len(whole) - sum(whole)} broken segments: "
                  f"{got['whole'][-1]:.1f}%", flush=True)
        if draw:
            chosen = [d for _, d in spread(digits, draw)]
            accuracy, mistakes, n, _ = drawn(script, str(weights), chosen)
            report("  drawn on the page with the mouse", accuracy, mistakes, n)
            got["drawn"].append(accuracy)
        if also:
            also(held_out, weights)
    return got


def folds(script: str, seeds: list[int], flags: list[str], draw: int, keep: str | None,
          record: bool = False, also: Callable[[str, Path], None] | None = None) -> None:
    """Every institution left out in turn; each fold's mean over seeds, then their mean and
    the worst fold. `keep`: a folder to leave the weights and pictures in; `record`: the
    figures into docs/measured.json (the README's pen-digits column); `also`: as fold's."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for held_out in pens.SOURCES:
            results[held_out] = fold(script, held_out, seeds, flags, draw, Path(keep or tmp),
                                     also)
    print(f"\n{script}, --recipe handwriting, seeds {seeds[0]}..{seeds[-1]}, one "
          f"institution left out at a time:")
    figures = {"first_seed": seeds[0], "seeds": len(seeds), "folds": len(results),
               "drawn_per_fold": draw, "settings": " ".join(["--recipe handwriting", *flags])}
    for what in ("pictures", "drawn"):
        if not results[pens.SOURCES[0]][what]:
            continue
        means = {s: statistics.mean(r[what]) for s, r in results.items()}
        per_seed = [statistics.mean(r[what][i] for r in results.values())
                    for i in range(len(seeds))]
        worst = min(means, key=means.get)
        spread = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
        print(f"{what}: mean of the folds {statistics.mean(per_seed):.1f}% ± {spread:.1f} "
              f"over seeds; worst fold {worst} {means[worst]:.1f}%; "
              + ", ".join(f"{s} {m:.1f}" for s, m in means.items()))
        figures.update({what: round(statistics.mean(per_seed), 1), f"{what}_std": round(spread, 2),
                        f"worst_{what}": round(means[worst], 1), "worst": worst})
    print(f"ibm without its broken segments, as pictures: "
          f"{statistics.mean(results['ibm']['whole']):.1f}%")
    mnist = [m for r in results.values() for m in r["mnist"]]
    figures.update(mnist=round(statistics.mean(mnist), 2), mnist_std=round(statistics.stdev(
        mnist), 2) if len(mnist) > 1 else 0.0)
    print(f"MNIST's test set, final: {figures['mnist']:.2f}% ± {figures['mnist_std']:.2f} over "
          f"the {len(mnist)} runs ({min(mnist):.2f} to {max(mnist):.2f})")
    if record:
        from tools import measured
        measured.record("pen digits", script, figures)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("pictures", "read", "drawn", "folds"))
    p.add_argument("args", nargs="+", metavar="ARG",
                   help="FOLDER (pictures), SCRIPT WEIGHTS FOLDER (read), SCRIPT WEIGHTS "
                        "(drawn), SCRIPT (folds)")
    p.add_argument("--source", choices=pens.SOURCES,
                   help="pictures, drawn: one institution's digits (default: all)")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="drawn: draw every Nth digit (default: 1)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="folds: seeds 1..N")
    p.add_argument("--draw", type=int, default=60, metavar="N",
                   help="folds: draw N digits of each held-out institution, evenly spread; 0: "
                        "none (default: 60)")
    p.add_argument("--keep", metavar="DIR",
                   help="folds: leave the weights and pictures here (default: thrown away)")
    p.add_argument("--record", action="store_true",
                   help="folds: write the figures to docs/measured.json (default: print them)")
    args, flags = p.parse_known_args(argv)
    if flags and args.what != "folds":
        p.error(f"unrecognized arguments: {' '.join(flags)}")
    if args.what == "pictures":
        print(f"{write_pictures(Path(args.args[0]), args.source)} pictures in {args.args[0]}")
    elif args.what == "folds":
        folds(args.args[0].removesuffix(".py"), list(range(1, args.seeds + 1)), flags,
              args.draw, args.keep, args.record)
    elif args.what == "read":
        if len(args.args) != 3:
            p.error("read takes SCRIPT WEIGHTS FOLDER")
        report("as pictures through --predict", *read(*args.args[:2], Path(args.args[2]))[:3])
    else:
        if len(args.args) != 2:
            p.error("drawn takes SCRIPT WEIGHTS")
        try:
            accuracy, mistakes, n, moves = drawn(
                args.args[0].removesuffix(".py"), args.args[1],
                [d for _, d in numbered(args.source)][::args.every])
        except UserError as e:
            raise SystemExit(f"error: {e}")
        report("drawn on the page with the mouse", accuracy, mistakes, n)
        moves.sort()
        print(f"each mouse move: median {1000 * moves[len(moves) // 2]:.1f} ms, "
              f"90th percentile {1000 * moves[int(0.9 * len(moves))]:.1f} ms, of {len(moves)}")


if __name__ == "__main__":
    main()
