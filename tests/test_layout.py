"""The package's layout rules: no import cycles (function-local imports included), and a module imports
another brainyolo module inside a function only where importing it at the top would load a heavy
library (Brian2, PyTorch, matplotlib, optuna, Dask, ...) the module does not load already, or where the
module is a command's (``brainyolo.cli``: every command starts without Brian2)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "brainyolo"
HEAVY = {"brian2", "torch", "spikingjelly", "matplotlib", "optuna", "dask", "distributed", "cv2", "tonic",
         "expelliarmus", "pycocotools", "scipy", "sklearn"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = modules()


@functools.cache
def imports(name: str, everywhere: bool) -> list[tuple[str, ast.stmt]]:
    """(imported module, statement) of ``name``: at module level, or (``everywhere``) anywhere in it."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in (ast.walk(tree) if everywhere else tree.body):
        if isinstance(node, ast.Import):
            found += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, node))
    return found


@functools.cache
def loads_heavy(name: str) -> bool:
    """Does importing ``name`` load a heavy library (through module-level imports, which have no cycles)?"""
    if name.split(".")[0] in HEAVY:
        return True
    if name not in MODULES:
        return False
    return any(loads_heavy(target) for target, _ in imports(name, everywhere=False) if target != name)


LAZY = {"brainyolo"}
"""Packages whose function-local imports are lazy attributes (``brainyolo.SpikingDetector`` through the
package's ``__getattr__``): every module may import ``brainyolo.__version__``, so they are not edges."""


def test_no_import_cycles():
    graph = {name: {t for t, _ in imports(name, everywhere=name not in LAZY) if t in MODULES and t != name}
             for name in MODULES}
    state: dict[str, int] = {}

    def visit(name, path):
        state[name] = 1
        for target in graph[name]:
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith("brainyolo.cli") and n not in LAZY))
def test_function_local_imports_have_a_reason(name):
    heavy_here = loads_heavy(name)
    top_level = {node.lineno for _, node in imports(name, everywhere=False)}
    for target, node in imports(name, everywhere=True):
        if node.lineno in top_level or target not in MODULES or target == name:
            continue
        assert not heavy_here and loads_heavy(target), (
            f"{name} imports {target} inside a function (line {node.lineno}): import it at the top")


def test_every_subpackage_says_what_it_holds():
    for init in PACKAGE.rglob("__init__.py"):
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


MAX_LINES = 500


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_500_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines (split it by what its parts do)"


def test_few_modules_at_the_top():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
