"""Handwriting from outside MNIST: does a trained network read digits people wrote elsewhere?

    python handwriting.py pictures hand/                  # the digits as pictures
    python handwriting.py read simple_cnn net.safetensors hand/    # through --predict

The digits are UCI's optdigits test set as scikit-learn ships it (`load_digits`: 1,797
digits by 13 writers, none of them MNIST's; `pip install scikit-learn`): each 8 x 8 count of
ink (0-16) scaled to 32 x 32, the size of the bitmaps they were counted from, as dark ink on
white paper with a margin of 4 pixels. `read` gives every picture to the script's --predict,
as a learner would, and prints the accuracy and what each digit was most often taken for.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
NAME = re.compile(r"^(\d{4})-(\d)\.png$")  # 0123-7.png: the 124th digit, a 7


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
        raise SystemExit(f"{folder}: no pictures (python handwriting.py pictures {folder})")
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
    report("as pictures through --predict", *read(script, weights, folder))


if __name__ == "__main__":
    main()
