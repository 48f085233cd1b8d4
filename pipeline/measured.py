"""What was measured, read from its one place: docs/measured.json, which the measuring tools
write (tools/measured.py: tools.seeds, tools.handwriting folds). Each script's --help states
what a run of it reaches from there, the README's table says the same (a test compares them),
and nothing else restates a figure."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve().parents[1] / "docs" / "measured.json"


def path() -> Path:
    """docs/measured.json, or the file $MEASURED_JSON names (the tests' own copy)."""
    return Path(os.environ.get("MEASURED_JSON", PATH))


def read() -> dict[str, Any]:
    """Every figure recorded, by kind ("accuracy", "pen digits") and network; {} without the
    file (a copied script far from the project)."""
    try:
        return json.loads(path().read_text())
    except (OSError, ValueError):
        return {}


def reaches(network: str) -> str | None:
    """What a run of `network` reaches on real MNIST, as one sentence, or None if not measured."""
    m = read().get("accuracy", {}).get(network)
    if not m:
        return None
    seeds = f"seeds {m['first_seed']}-{m['first_seed'] + m['seeds'] - 1}"
    return (f"What a run reaches (real MNIST, {m['settings']}, {seeds}): {m['mean']:.2f}% ± "
            f"{m['std']:.2f} ({m['min']:.2f}-{m['max']:.2f}) after {m['epochs']:g} epochs, "
            f"{m['seconds'][0]:.0f}-{m['seconds'][1]:.0f} s a run, on {m['machine']}, torch "
            f"{m['torch']}, {m['when']}; docs/measured.json.")
