"""Writing docs/measured.json, the one place for what was measured (pipeline/measured.py reads
it): a tool that measures records its figures with the machine, the torch version, the date
and the commit they came from."""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
from typing import Any

import torch

from pipeline.measured import PATH, path, read


def machine() -> str:
    """This machine in words: its processor and cores, and the device the runs used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return f"{cpu}, {torch.get_num_threads()} threads, {device}"


def commit() -> str | None:
    result = subprocess.run(["git", "-C", str(PATH.parent), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() or None


def record(kind: str, network: str, figures: dict[str, Any]) -> None:
    """`figures` as what `network` measured for `kind` ("accuracy", "pen digits"), replacing
    what was there, with where and when it was measured."""
    measured = read()
    measured.setdefault(kind, {})[network] = {
        **figures, "machine": machine(), "torch": torch.__version__.split("+")[0],
        "when": f"{datetime.date.today().isoformat()}, commit {commit()}"}
    path().write_text(json.dumps(measured, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded in {path()}: {kind}, {network}")
