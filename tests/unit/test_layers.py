"""The package's layout is checked, not just agreed: no import cycles (deferred imports
included), each subpackage imports only the layers its ``__init__`` allows, modules stay
small, and the emulator and the task runner stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("superbatch", "batch_emulator")
MAX_LINES = 450  # "modules under ~400 lines"; a few protocols are one module

# What each part of superbatch may import (besides itself, the standard library and
# third-party packages); the subpackages' docstrings say the same in words.
# The task runner is standard library only and imports nothing else of ours: any layer
# may use its pieces (e.g. its ustar writer).
BASE = {"superbatch", "superbatch.errors", "superbatch.util", "superbatch.taskrunner"}
ALLOWED = {
    "superbatch.util": BASE,
    "superbatch.contract": BASE,
    "superbatch.spec": BASE | {"superbatch.contract", "superbatch.backends.registry"},
    "superbatch.plan": BASE | {"superbatch.contract", "superbatch.spec"},
    "superbatch.jobs": BASE
    | {
        "superbatch.contract",
        "superbatch.spec",
        "superbatch.plan",
        "superbatch.backends.base",
        "superbatch.backends.reports",
        "superbatch.backends.registry",
    },
    "superbatch.results": BASE
    | {
        "superbatch.contract",
        "superbatch.spec",
        "superbatch.plan",
        "superbatch.jobs",
        "superbatch.backends.base",
        "superbatch.backends.reports",
    },
    "superbatch.taskrunner": set(),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skipped


def _imports(name: str, path: Path) -> set[str]:
    """The modules of ours that ``name`` imports, at module level or inside functions
    (not under ``if TYPE_CHECKING``). ``from package import submodule`` counts as the
    submodule (the package is initialised already when it is the importer's own)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            found.update(subs)
            if len(subs) < len(node.names) and base in MODULES:
                found.add(base)  # names defined by the module (or package) itself
    found.discard(name)
    return {m for m in found if not (name + ".").startswith(m + ".")}  # own parents


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles() == []


def _layer(name: str) -> str | None:
    for layer in sorted(ALLOWED, key=len, reverse=True):
        if name == layer or name.startswith(layer + "."):
            return layer
    return None


def _within(target: str, allowed: set[str]) -> bool:
    """``target`` is one of ``allowed`` or inside one (the ``superbatch`` package itself
    only exactly: its ``__init__``)."""
    return any(target == a or a != "superbatch" and target.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer):
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if _layer(name) == layer
        for target in sorted(targets)
        if not _within(target, {layer} | ALLOWED[layer])
    ]
    assert wrong == []


def test_the_emulator_and_the_task_runner_stand_alone():
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if name.startswith("batch_emulator")
        and not target.startswith("batch_emulator")
        or name.startswith("superbatch.taskrunner")
        and not target.startswith("superbatch.taskrunner")
    ]
    assert wrong == []


def test_top_level_holds_only_entry_points_and_errors():
    top = sorted(p.name for p in (ROOT / "superbatch").glob("*.py") if p.name != "__init__.py")
    assert top == ["__main__.py", "entry.py", "errors.py", "joblib.py"]


def test_modules_stay_small():
    big = {
        str(path.relative_to(ROOT)): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert big == {}
