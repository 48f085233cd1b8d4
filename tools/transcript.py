"""What the command line prints, for a redesign to keep: a list of commands run on small
synthetic digits, their output with the seconds masked, written to one text file.

    python -m tools.transcript > after.txt
    python -m tools.transcript --root ../old-checkout > before.txt
    diff before.txt after.txt

--root runs another checkout's scripts (an older commit's, checked out with `git worktree
add`), so the same list measures the code before and after a change. Every command runs in
one scratch folder, in this order (training writes what resuming and --load read).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NETWORKS = ("simple_cnn", "inception_cnn", "deep_cnn", "densenet_cnn", "inception_v3_cnn",
            "inception_v4_cnn", "inception_resnet_v2_cnn")

# (script, its arguments); every command also gets --device cpu, except --help's
COMMANDS: list[tuple[str, list[str]]] = [
    ("simple_cnn", ["--help"]),
    ("inception_cnn", ["--help"]),
    ("deep_cnn", ["--help"]),
    *[(net, ["--summary"]) for net in NETWORKS],
    *[(net, ["--data-dir", "data", "--dry-run"]) for net in NETWORKS],
    ("simple_cnn", ["--data-dir", "data", "--epochs", "1", "--checkpoint", "ck.pt",
                    "--save-model", "net.pt", "--metrics", "m.csv"]),
    ("simple_cnn", ["--data-dir", "data", "--resume", "ck.pt", "--epochs", "2"]),
    ("simple_cnn", ["--data-dir", "data", "--resume", "ck.pt", "--epochs", "2", "--lr",
                    "0.02"]),
    ("simple_cnn", ["--data-dir", "data", "--recipe", "fast", "--epochs", "1"]),
    ("simple_cnn", ["--data-dir", "data", "--epochs", "1", "--evals-per-epoch", "2",
                    "--target-accuracy", "99"]),
    ("simple_cnn", ["--data-dir", "data", "--load", "net.pt", "--evaluate"]),
    ("simple_cnn", ["--load", "net.pt", "--predict", "seven.png", "one.png"]),
    ("simple_cnn", ["--load", "net.pt", "--explain", "seven.png"]),
    ("simple_cnn", ["--load", "ck.pt", "--predict", "seven.png"]),
    ("simple_cnn", ["--epochs", "0"]),
    ("simple_cnn", ["--lr", "-1"]),
    ("simple_cnn", ["--grad-clip", "-1"]),
    ("simple_cnn", ["--momentum", "1"]),
    ("simple_cnn", ["--recipe", "slow"]),
    ("simple_cnn", ["--pen-digits", "mars"]),
    ("simple_cnn", ["--evaluate"]),
    ("simple_cnn", ["--resume", "ck.pt", "--load", "net.pt"]),
    ("simple_cnn", ["--data-dir", "seven.png"]),
    ("simple_cnn", ["--compare", "inception_cnn", "net.pt"]),
    ("simple_cnn", ["--optimizer", "nesterov", "--momentum", "0", "--data-dir", "data"]),
    ("simple_cnn", ["--checkpoint", "net.safetensors", "--data-dir", "data"]),
    ("simple_cnn", ["--data-dir", "data", "--resume", "ck.pt", "--recipe", "fast"]),
    ("simple_cnn", ["--data-dir", "data", "--resume", "ck.pt", "--optimizer", "adamw"]),
    ("simple_cnn", ["--load", "missing.pt", "--evaluate"]),
    ("inception_cnn", ["--load", "net.pt", "--predict", "seven.png"]),
    ("simple_cnn", ["--load", "net.pt", "--predict", "m.csv"]),
]

# what differs from run to run: seconds and milliseconds, and the scratch folder's name
MASKS = [(re.compile(r"\d+\.\d+ ?(s|ms)\b"), r"<\1>"), (re.compile(r"\d+ ms\b"), "<ms>")]


def scratch(folder: Path) -> None:
    """Small synthetic digits in MNIST's layout, and two pictures to read (the tests' own)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import draw_digit, make_mnist

    make_mnist(folder / "data", 640, 200)
    for digit, name in ((7, "seven.png"), (1, "one.png")):
        draw_digit(digit, (120, 160), 110, stroke=4, ink=30, paper=235,
                   mode="RGB").save(folder / name)


def transcript(root: Path, folder: Path) -> str:
    parts = []
    for script, args in COMMANDS:
        device = [] if args == ["--help"] else ["--device", "cpu"]
        result = subprocess.run([sys.executable, str(root / f"{script}.py"), *device, *args],
                                capture_output=True, text=True, cwd=folder, timeout=600)
        out = f"$ {script}.py {' '.join(args)}\n[status {result.returncode}]\n" \
              f"{result.stdout}[stderr]\n{result.stderr}"
        for pattern, mask in MASKS:
            out = pattern.sub(mask, out.replace(str(folder), "<scratch>"))
        parts.append(out)
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose scripts run (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch(Path(folder))
        print(transcript(args.root.resolve(), Path(folder)), end="")


if __name__ == "__main__":
    main()
