"""Ways of writing a digit, measured one by one: does the network read a European 1, a crossed
7, a slashed 0 as the digit it is, and a 7 written plain still as a 7?

    python -m tools.styles folds simple_cnn --seeds 3 --drawn 10 --data-dir ../shared/data
    python -m tools.styles own simple_cnn a.safetensors b.safetensors
    python -m tools.styles shoot simple_cnn a.safetensors docs/torn.png
    python -m tools.styles quick simple_cnn a.safetensors ibm

`folds` runs tools.handwriting's folds (one institution of data/unipen/ left out at a time,
`--recipe handwriting` trained on the other five) and, with each fold's network, reads the
held-out institution's digits of every style (pipeline/styles.py) as pictures through
--predict: each style as its writers wrote it (found by styles.written's rules), each style
made from its digits not written so (restyled, at most --restyled per style and fold, by a
generator that training does not use), and the 7s written plain. `--drawn N` also replays N
of the European 1s (as written and restyled) and of the plain 7s, evenly spread, on the page
with the mouse. A set's figure pools the six folds, per seed; then mean and spread over seeds.
`own` draws a handful of digits written here by hand as strokes (OWN) on the page of each
network given, with the mouse; `shoot` takes docs/torn.png: the page torn on one of them.
`quick` reads one institution's digits in this process, drawn by PenPictures with the page's
pen: all of them, the European 1s, the plain 7s, the slashed 0s and the crossed 7s its
writers wrote (docs/styles.md's "what was tried").
"""
from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import numpy as np

from pipeline import pens, styles
from tools import handwriting

DRAWN = ("1 flag, as written", "1 flag, restyled", "7 plain, as written")


def style_sets(digits: list[pens.PenDigit], most: int) -> dict[str, list[pens.PenDigit]]:
    """The measure's sets among one institution's digits: each style its writers wrote ("1
    flag, as written"), each style made from those of its digits not written in it ("1 flag,
    restyled", at most `most`, evenly spread), and the 7s written plain (no bar across)."""
    rng = np.random.default_rng(1)  # training's twins come from default_rng(0)
    sets: dict[str, list[pens.PenDigit]] = {}
    for digit in digits:
        way = styles.written(digit)
        if way or digit.label == 7:
            sets.setdefault(f"{digit.label} {way or 'plain'}, as written", []).append(digit)
        for style in styles.STYLES.get(digit.label, ()):
            if style != way and (made := styles.restyled(digit, style, rng)) is not None:
                sets.setdefault(f"{digit.label} {style}, restyled", []).append(made)
    return {name: found if name.endswith("as written") else handwriting.spread(found, most)
            for name, found in sorted(sets.items())}


def read_sets(script: str, weights: str, sets: dict[str, list[pens.PenDigit]],
              folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every set's digits as pictures through --predict: per set, how many it read right, how
    many it was torn on naming the right digit second (the page says "7 — or a 1 as written in
    much of Europe"), and how many there are."""
    every = [(name, d) for name, found in sets.items() for d in found]
    if not folder.is_dir():
        handwriting.save_pictures(folder, list(enumerate(d for _, d in every)))
    *_, right, seconds = handwriting.read(script, weights, folder)
    named = [s == d.label for s, (_, d) in zip(seconds, every)]
    return {name: (sum(r for r, (n, _) in zip(right, every) if n == name),
                   sum(t for t, (n, _) in zip(named, every) if n == name), len(found))
            for name, found in sets.items()}


def drawn_sets(script: str, weights: str,
               sets: dict[str, list[pens.PenDigit]]) -> dict[str, tuple[int, int, int]]:
    """Every set's digits replayed on the page with the mouse: (read right, 0, how many), the
    0 where read_sets counts the torn ones (the page's answer is read as its digit alone)."""
    every = [(name, d) for name, found in sets.items() for d in found]
    answers, _ = handwriting.shown_for(script, weights,
                                       [handwriting.pen_path(d) for _, d in every])
    return {name: (sum(a == d.label for a, (n, d) in zip(answers, every) if n == name), 0,
                   len(found)) for name, found in sets.items()}


class Measure:
    """What `folds` gathers: per held-out institution, per seed (in the order of the runs), per
    set, (read right, torn naming the right digit second, how many)."""

    def __init__(self, script: str, work: Path, restyled: int, drawn: int) -> None:
        self.script, self.work, self.restyled, self.drawn = script, work, restyled, drawn
        self.pictures: dict[str, list[dict]] = {}  # held out -> one dict per seed
        self.on_page: dict[str, list[dict]] = {}

    def __call__(self, held_out: str, weights: Path) -> None:
        sets = style_sets([d for _, d in handwriting.numbered(held_out)], self.restyled)
        found = read_sets(self.script, str(weights), sets, self.work / f"{held_out}-styles")
        self.pictures.setdefault(held_out, []).append(found)
        print("  styles as pictures: " + ", ".join(
            f"{name} {right}/{n}" for name, (right, _, n) in found.items()), flush=True)
        if self.drawn:
            chosen = {name: handwriting.spread(sets.get(name, []), self.drawn) for name in DRAWN}
            found = drawn_sets(self.script, str(weights), chosen)
            self.on_page.setdefault(held_out, []).append(found)
            print("  drawn on the page: " + ", ".join(
                f"{name} {right}/{n}" for name, (right, _, n) in found.items()), flush=True)

    def pooled(self, runs: dict[str, list[dict]]) -> dict[str, dict]:
        """Per set: its six folds pooled, per seed, then the mean and spread over seeds."""
        seeds = len(next(iter(runs.values())))
        names = sorted({name for per_seed in runs.values() for name in per_seed[0]})
        table = {}
        for name in names:
            per_seed = [[r[i].get(name, (0, 0, 0)) for r in runs.values()] for i in range(seeds)]
            counts = [sum(n for *_, n in s) for s in per_seed]
            if not counts[0]:
                continue
            shares = [100 * sum(r for r, _, _ in s) / n for s, n in zip(per_seed, counts)]
            named = [100 * sum(r + t for r, t, _ in s) / n for s, n in zip(per_seed, counts)]
            table[name] = {"read": round(statistics.mean(shares), 1), "of": counts[0],
                           "std": round(statistics.stdev(shares), 1) if seeds > 1 else 0.0,
                           "seeds": [round(x, 1) for x in shares],
                           "or_named_second": round(statistics.mean(named), 1)}
        return table

    def report(self) -> dict:
        figures = {"pictures": self.pooled(self.pictures)}
        if self.on_page:
            figures["drawn"] = self.pooled(self.on_page)
        for how, table in figures.items():
            print(f"\nstyles, {how} (six folds pooled; mean ± std over seeds):")
            for name, f in table.items():
                second = (f"; read right or named second {f['or_named_second']:.1f}%"
                          if how == "pictures" else "")
                print(f"  {name:<32} {f['read']:5.1f}% ± {f['std']:.1f} of {f['of']} "
                      f"({', '.join(map(str, f['seeds']))}){second}")
        return figures


def quick(script: str, weights: str, source: str) -> None:
    """One institution's digits drawn by PenPictures with the page's pen (9.5% of the digit's
    size) and read in this process: all of them, and the styles people wrote themselves."""
    import torch

    from pipeline import networks
    from pipeline.checkpoints import load_weights
    model = networks.find()[script].Net()
    load_weights(model, weights, script)
    model.eval()
    digits = [d for d in pens.load() if d.source == source]
    pictures = pens.PenPictures.of(digits, torch.device("cpu"), styled=False)
    with torch.inference_mode():
        answers = model(pictures.draw(torch.full((len(digits),), 0.095))).argmax(1).tolist()
    ways = [styles.written(d) or ("plain" if d.label == 7 else None) for d in digits]
    for way in (None, "flag", "plain", "slashed", "crossed"):
        chosen = [a == d.label for a, d, w in zip(answers, digits, ways) if way in (None, w)]
        if chosen:
            print(f"{source}, {way or 'all'}: {100 * sum(chosen) / len(chosen):.1f}% of "
                  f"{len(chosen)}")


def ellipse(cx: float, cy: float, rx: float, ry: float, points: int = 40) -> list:
    return [(cx + rx * math.sin(2 * math.pi * i / points), cy - ry * math.cos(
        2 * math.pi * i / points)) for i in range(points + 1)]


def line(a: tuple[float, float], b: tuple[float, float], step: float = 5) -> list:
    """Points from a to b about `step` pad pixels apart, as a hand moves the mouse."""
    n = max(1, round(math.dist(a, b) / step))
    return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]


def path(*corners: tuple[float, float]) -> list:
    return [p for a, b in zip(corners, corners[1:]) for p in line(a, b)[:-1]] + [corners[-1]]


# A handful written here by hand as strokes in the pad's pixels (280 x 280): (label, style,
# strokes). European 1s: the flag from the lower left up to the top, then the stem.
OWN = [
    (1, "flag", [path((105, 110), (165, 45), (160, 235))]),
    (1, "flag", [path((80, 140), (170, 40), (170, 240))]),
    (1, "flag", [path((100, 80), (170, 45), (165, 240))]),
    (1, "flag", [path((130, 120), (160, 40), (155, 235))]),
    (1, "flag and base", [path((95, 95), (160, 40), (150, 240)), path((105, 240), (195, 240))]),
    (1, "leaning with a flag", [path((120, 120), (185, 40), (130, 235))]),
    (7, "plain", [path((80, 50), (200, 50), (120, 235))]),
    (7, "plain", [path((75, 60), (205, 55), (170, 120), (140, 235))]),
    (7, "plain", [path((85, 65), (195, 45), (135, 240))]),
    (7, "plain", [path((90, 45), (190, 50), (110, 240))]),
    (7, "crossed", [path((80, 50), (200, 50), (120, 235)), path((115, 140), (200, 140))]),
    (7, "hooked", [path((85, 90), (85, 55), (195, 45), (135, 240))]),
    (0, "slashed", [ellipse(140, 140, 60, 90), path((90, 230), (190, 50))]),
    (0, "slashed", [ellipse(140, 140, 55, 85), path((100, 200), (180, 80))]),
    (0, "dotted", [ellipse(140, 140, 60, 90), ellipse(140, 140, 6, 6, 8)]),
    (4, "open", [path((100, 40), (90, 150), (205, 150)), path((170, 60), (170, 240))]),
    (4, "closed", [path((170, 40), (80, 160), (210, 160)), path((170, 40), (170, 240))]),
    (2, "looped", [path((85, 90), (110, 55), (150, 45), (185, 65), (190, 100), (160, 150),
                        (110, 200), (88, 228), (100, 212), (112, 224), (100, 238), (88, 228),
                        (205, 230))]),
    (9, "curled", [ellipse(140, 95, 50, 50)[10:] + ellipse(140, 95, 50, 50)[1:11]
                   + path((190, 95), (185, 205), (170, 232), (140, 240), (120, 225))]),
]


def own(script: str, weights: list[str]) -> dict[str, dict]:
    """OWN drawn on the page of each network: per style, how many of them it read right."""
    read: dict[str, list[int]] = {}
    for w in weights:
        answers, _ = handwriting.shown_for(script, w, [strokes for _, _, strokes in OWN])
        for (label, style, _), answer in zip(OWN, answers):
            read.setdefault(f"{label} {style}", []).append(answer == label)
        print(f"{w}: {sum(a == label for (label, _, _), a in zip(OWN, answers))} of "
              f"{len(OWN)} read right ({', '.join(str(a) for a in answers)})", flush=True)
    return {name: {"right": sum(r), "of": len(r)} for name, r in read.items()}


def shoot(script: str, weights: str, out: str) -> None:
    """The page of `weights` in Chromium with the first European 1 it is torn on between 1 and 7
    drawn (OWN's, then people's replayed along their pen path), the pad and the answer in one
    picture (docs/torn.png)."""
    from playwright.sync_api import sync_playwright

    from tools import browser
    ones = [(style, strokes) for label, style, strokes in OWN if label == 1] + [
        (f"{d.source}'s, line {i + 1}", handwriting.pen_path(d))
        for i, d in enumerate(pens.load()) if styles.written(d) == "flag"]
    with handwriting.serving(script, weights) as url, sync_playwright() as p:
        chromium = browser.launch(p)
        page = browser.open_page(chromium, url, {"width": 1100, "height": 900})
        for which, strokes in ones:
            browser.draw(page, strokes)
            browser.read(page)
            if page.locator("#torn").is_visible() and "7" in page.locator("#torn").text_content():
                print(f"{which}: {page.locator('#torn').text_content()}")
                page.locator("#draw-panel").scroll_into_view_if_needed()
                page.screenshot(path=out, clip=clip(page, "#draw-panel", "#answer-panel"))
                break
        else:
            print("not torn between 1 and 7 on any European 1: no picture")
        chromium.close()


def clip(page, *selectors: str) -> dict:
    """The smallest box around the elements, in the page's pixels."""
    boxes = [page.locator(s).bounding_box() for s in selectors]
    left, top = min(b["x"] for b in boxes), min(b["y"] for b in boxes)
    return {"x": left, "y": top, "width": max(b["x"] + b["width"] for b in boxes) - left,
            "height": max(b["y"] + b["height"] for b in boxes) - top}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("folds", "own", "shoot", "quick"))
    p.add_argument("args", nargs="+", metavar="ARG",
                   help="SCRIPT (folds), SCRIPT WEIGHTS... (own), SCRIPT WEIGHTS PNG (shoot), "
                        "SCRIPT WEIGHTS SOURCE (quick)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="folds: seeds 1..N")
    p.add_argument("--restyled", type=int, default=150, metavar="N",
                   help="folds: at most N restyled digits per style and fold (default: 150)")
    p.add_argument("--drawn", type=int, default=10, metavar="N",
                   help="folds: draw N of each of the European 1s and the plain 7s per fold on "
                        "the page; 0: none (default: 10)")
    p.add_argument("--draw", type=int, default=20, metavar="N",
                   help="folds: draw N of each held-out institution's digits, evenly spread, "
                        "as tools.handwriting folds does (default: 20)")
    p.add_argument("--keep", metavar="DIR", help="folds: leave the weights and pictures here")
    p.add_argument("--record", action="store_true",
                   help="write the figures to docs/measured.json (default: print them)")
    args, flags = p.parse_known_args(argv)
    script = args.args[0].removesuffix(".py")
    from tools import measured
    if args.what == "shoot":
        return shoot(script, *args.args[1:3])
    if args.what == "quick":
        return quick(script, *args.args[1:3])
    if args.what == "own":
        found = own(script, args.args[1:])
        for name, f in found.items():
            print(f"  {name:<24} {f['right']} of {f['of']}")
        if args.record:
            measured.record("styles", f"{script}, own", found)
        return
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        measure = Measure(script, work, args.restyled, args.drawn)
        handwriting.folds(script, list(range(1, args.seeds + 1)), flags, args.draw, str(work),
                          args.record, measure)
        figures = measure.report()
    if args.record:
        measured.record("styles", script, figures)


if __name__ == "__main__":
    main()
