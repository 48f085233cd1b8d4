"""Train one network with several seeds and say how much its numbers move: mean ± std, min, max.

    python -m tools.seeds simple_cnn --seeds 5 --data-dir ../shared/data
    python -m tools.seeds inception_cnn --seeds 5 --data-dir ../shared/data --recipe fast
    python -m tools.seeds deep_cnn --seeds 3 --first-seed 11 --data-dir ../shared/data
    python -m tools.seeds deep_cnn --seeds 3 --data-dir ../shared/data --record

Each seed is a run of the network's own script, with its defaults and the flags given after
the network, in a fresh process, one after another: seeds 1..N unless --first-seed says
otherwise. The final test accuracy comes from the run's --metrics file; the time is the
script's own "Finished" figure (training and test passes, no start-up or data loading).
A difference between two networks smaller than their spread over seeds is a seed's luck.
--record writes the figures to docs/measured.json, the one place the README's table and the
script's --help take them from (with the machine, torch's version, the date and the commit).
A run of the lecture's Inception network takes about 4 minutes on 2 CPU cores: five seeds,
twenty minutes.
"""
from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from pipeline import networks

ROOT = Path(__file__).resolve().parent.parent  # the scripts
FINISHED = re.compile(r"^Finished: ([\d.]+) epochs? in ([\d.]+) s", re.M)


def one_run(script: str, seed: int, flags: list[str]) -> dict[str, float]:
    """Train with this seed; its final and best accuracy, epochs and seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.csv")
        result = subprocess.run(
            [sys.executable, str(ROOT / f"{script}.py"), *flags, "--seed", str(seed),
             "--metrics", metrics], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"seed {seed}: {script}.py exited with {result.returncode}:\n"
                             f"{result.stderr.strip()}")
        with open(metrics, newline="") as f:
            rows = list(csv.DictReader(f))
    finished = FINISHED.search(result.stdout)
    return {"seed": seed, "final": float(rows[-1]["test_accuracy"]),
            "best": max(float(r["test_accuracy"]) for r in rows),
            "epochs": float(finished.group(1)), "seconds": float(finished.group(2))}


def spread(values: list[float]) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation (0 for one value), min and max."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std, min(values), max(values)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", choices=networks.names(), help="the script to train")
    p.add_argument("--seeds", type=int, default=5, metavar="N",
                   help="how many seeds, one run each (default: 5)")
    p.add_argument("--first-seed", type=int, default=1, metavar="S",
                   help="the first seed; the others follow it (default: 1)")
    p.add_argument("--record", action="store_true",
                   help="write the figures to docs/measured.json (default: print them only)")
    args, flags = p.parse_known_args(argv)
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    if "--seed" in flags or "--metrics" in flags:
        p.error("--seed and --metrics are set by seeds.py itself")
    print(f"{args.network}.py {' '.join(flags)}: seeds {args.first_seed}.."
          f"{args.first_seed + args.seeds - 1}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs.append(one_run(args.network, seed, flags))
        r = runs[-1]
        print(f"seed {seed}: final {r['final']:.2f}%, best {r['best']:.2f}%, "
              f"{r['epochs']:g} epochs in {r['seconds']:.1f} s", flush=True)
    for key, what, unit in (("final", "final accuracy", "%"), ("seconds", "time", " s")):
        mean, std, low, high = spread([r[key] for r in runs])
        print(f"{what}: {mean:.2f}{unit} ± {std:.2f}{unit} (min {low:.2f}{unit}, "
              f"max {high:.2f}{unit}, {len(runs)} seeds)")
    if args.record:
        record(args.network, runs, args.first_seed, flags)


def record(network: str, runs: list[dict[str, float]], first_seed: int, flags: list[str]) -> None:
    """The figures, into docs/measured.json: the network's row of the README's table."""
    from tools import measured

    mean, std, low, high = spread([r["final"] for r in runs])
    seconds = [r["seconds"] for r in runs]
    typed, skip = [], False  # the flags that change what is trained, not where
    for flag in flags:
        if not skip and not flag.startswith(("--data-dir", "--device")):
            typed.append(flag)
        skip = flag in ("--data-dir", "--device")
    settings = " ".join(typed) if typed else "its defaults"
    measured.record("accuracy", network, {
        "mean": round(mean, 2), "std": round(std, 2), "min": low, "max": high,
        "first_seed": first_seed, "seeds": len(runs), "epochs": runs[0]["epochs"],
        "seconds": [round(min(seconds)), round(max(seconds))], "settings": settings})


if __name__ == "__main__":
    main()
