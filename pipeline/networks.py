"""The networks: the scripts beside common.py that define `class Net`, found by looking.

A learner's copy (simple_cnn.py copied to my_cnn.py, its Net edited) is found like the
others: the tests check it, and seeds.py and benchmark.py can run it.
"""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DEFINES_NET = re.compile(r"^class Net\b", re.M)


def names(folder: Path = ROOT) -> list[str]:
    """The scripts in `folder` that define `class Net`, by name (simple_cnn, ...), sorted.

    Only read, not imported: a file that does something when imported is not run here.
    """
    return sorted(path.stem for path in folder.glob("*.py")
                  if DEFINES_NET.search(path.read_text(encoding="utf-8", errors="replace")))


def load(name: str, folder: Path = ROOT) -> ModuleType:
    """The script `name` as a module (importing a script defines things and does nothing)."""
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def find(folder: Path = ROOT) -> dict[str, ModuleType]:
    """Every network in `folder`: script name -> its module (with Net, FAST, DEFAULT_RECIPE)."""
    return {name: load(name, folder) for name in names(folder)}
