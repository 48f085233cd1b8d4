"""The house, read from its imports alone: the root is the lecture, and the arrows run one way
(script -> pipeline/cli.py -> ... -> common.py), with no circle anywhere."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from conftest import NETWORKS, ROOT

MODEL_CODE = ["common", "blocks", *NETWORKS]


def module_files() -> dict[str, Path]:
    """The project's own modules, by import name: the root's, pipeline's and tools'."""
    files = {}
    for path in [*ROOT.glob("*.py"), *ROOT.glob("pipeline/*.py"), *ROOT.glob("tools/*.py")]:
        parts = path.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def imported(name: str, path: Path, top_level_only: bool = False) -> set[str]:
    """The names a module imports (from x import y gives x and x.y), relative ones resolved."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = name.rpartition(".")[0] if path.name != "__init__.py" else name
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{package}.{base}".strip(".")
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_import_circle_in_the_house():
    files = module_files()
    graph = {name: sorted(imported(name, path) & set(files) - {name})
             for name, path in files.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for other in graph[name]:
            assert other not in path, f"an import circle: {' -> '.join(path + [other])}"
            if other not in done:
                visit(other, path + [other])
        done.add(name)

    for name in graph:
        visit(name, [name])


@pytest.mark.parametrize("name", MODEL_CODE)
def test_the_lecture_and_the_model_code_import_nothing_of_the_tool_belt(name):
    """common.py anywhere in it; a network's script and blocks.py at the top (a script's
    main() hands its Net to the command line, inside the function)."""
    path = ROOT / f"{name}.py"
    names = imported(name, path, top_level_only=name != "common")
    assert not {n for n in names if n.split(".")[0] in ("pipeline", "tools")}, names


def test_no_function_in_the_tool_belt_is_over_40_lines_nor_a_class_over_250():
    long = []
    for path in sorted((ROOT / "pipeline").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            most = 40 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else 250
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > most:
                    long.append(f"{path.name}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


@pytest.mark.parametrize("tool", sorted(p.stem for p in (ROOT / "tools").glob("*.py")
                                         if p.stem != "__init__"))
def test_every_tool_imports_and_does_nothing(tool, capsys):
    """tools/ measure the project through its modules: each imports what exists, and
    importing it prints nothing (a renamed function fails here, not in a long measurement)."""
    importlib.import_module(f"tools.{tool}")
    assert capsys.readouterr() == ("", "")


def test_no_attribute_is_first_set_outside_init():
    """A class's state is in sight in its __init__ (an HTTP handler's request attributes are
    the standard library's own, set by its base class per request)."""
    late = []
    for path in sorted((ROOT / "pipeline").glob("*.py")):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef) or any(
                    getattr(base, "id", "") == "BaseHTTPRequestHandler" for base in cls.bases):
                continue
            first: dict[str, str] = {}
            for method in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                for node in ast.walk(method):
                    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                            and getattr(node.value, "id", "") == "self":
                        first.setdefault(node.attr, method.name)
            inits = {a for a, m in first.items() if m == "__init__"}
            late += [f"{path.name}: {cls.name}.{a} first set in {m}()"
                     for a, m in first.items() if m != "__init__" and a not in inits]
    assert not late, late
