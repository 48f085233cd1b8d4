"""The networks: the scripts beside common.py that define `class Net`, found by looking.

A learner's copy (simple_cnn.py copied to my_cnn.py, its Net edited) is found like the
others: the tests check it, and tools.seeds and tools.benchmark can run it.
"""
from __future__ import annotations

import importlib
import importlib.util
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
    """The script `name` in `folder` as a module (importing a script defines things and does
    nothing). The root's scripts are imported by name, as `import simple_cnn` is; a script in
    another folder gets a module name of its own, so that a copy never stands in for a root
    script of the same name (a learner's my_cnn.py and a test's), nor the other way round."""
    if str(ROOT) not in sys.path:  # the scripts import common, blocks and pipeline
        sys.path.insert(0, str(ROOT))
    path = Path(folder).resolve() / f"{name}.py"
    if path.parent == ROOT:
        return importlib.import_module(name)
    key = f"{name}@{path.parent}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


def find(folder: Path = ROOT) -> dict[str, ModuleType]:
    """Every network in `folder`: script name -> its module (with Net, FAST, DEFAULT_RECIPE)."""
    return {name: load(name, folder) for name in names(folder)}
