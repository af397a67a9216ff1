"""What the task runner imports before it forks its points: the modules a worker script imports.

The script is parsed (``ast``), not run. Its imports that run when it starts count (module
level, also inside ``if``/``try``/``with`` blocks; not in functions), and so do the submodules
it reaches through them as attributes when their package loads submodules lazily (a module
``__getattr__``): ``np.random.seed`` loads ``numpy.random``. A module found in the script's
own directory is never preloaded, and any such module a preloaded one pulled in is dropped
again: each point imports the worker's own modules afresh, so an edit is seen and their
state never crosses points. An import that fails is skipped; the point's own import then
fails as it would have.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import os
import sys


def preload(script: str, home: str) -> None:
    """Import what ``script`` imports, except modules from ``home``, its directory."""
    tree = _parsed(script)
    if tree is None:
        return
    modules, submodules, reached_only = _imports(tree)
    for name in modules:
        if _found_elsewhere(name, home):
            _quietly(importlib.import_module, name)
    _import_submodules(submodules, reached_only)
    _forget_local(home)


def preload_reached(module) -> None:
    """Import the submodules ``module``'s code reaches as attributes of what it imports
    (``np.random.seed``: numpy would load ``numpy.random`` lazily, in the first point)."""
    path = getattr(module, "__file__", None)
    tree = _parsed(path) if isinstance(path, str) and path.endswith(".py") else None
    if tree is not None:
        _, submodules, reached_only = _imports(tree)
        _import_submodules(submodules, reached_only)


def leading_imports(script: str) -> list[tuple[str, tuple[str, ...]]]:
    """The imports ``script`` starts with, before any other statement (its docstring aside):
    each module, and the names a ``from`` import takes from it."""
    tree = _parsed(script)
    found: list[tuple[str, tuple[str, ...]]] = []
    for at, node in enumerate(tree.body if tree is not None else []):
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, tuple(alias.name for alias in node.names)))
        elif not (at == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            break
    return found


def _parsed(path: str) -> ast.Module | None:
    """The module at ``path``, parsed (not run); None if it cannot be read or parsed."""
    try:
        with open(path, "rb") as handle:
            return ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None


def _import_submodules(submodules: list[str], reached_only: set[str]) -> None:
    for name in submodules:
        _import_submodule(name, name in reached_only)


def _imports(tree: ast.Module) -> tuple[list[str], list[str], set[str]]:
    """The modules the script imports at start-up, what may be their submodules, and which
    of those it only reaches as attributes (no import statement names them)."""
    modules: dict[str, None] = {}
    submodules: dict[str, bool] = {}  # -> whether only reached as an attribute
    bound: dict[str, str] = {}  # a name the script binds -> the module (or submodule) it is
    for node in _startup_imports(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.name] = None
                top = alias.name.partition(".")[0]
                bound[alias.asname or top] = alias.name if alias.asname else top
        elif node.level == 0 and node.module:
            modules[node.module] = None
            for alias in node.names:
                if alias.name != "*":
                    name = f"{node.module}.{alias.name}"
                    submodules[name] = False
                    bound[alias.asname or alias.name] = name
    for chain in _attribute_chains(tree):
        module = bound.get(chain[0])
        if module is None:
            continue
        for depth in range(1, len(chain)):
            submodules.setdefault(".".join([module, *chain[1 : depth + 1]]), True)
    reached_only = {name for name, reached in submodules.items() if reached}
    return list(modules), sorted(submodules, key=lambda name: name.count(".")), reached_only


def _startup_imports(nodes):
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _startup_imports(ast.iter_child_nodes(node))


def _attribute_chains(tree: ast.Module):
    """``a.b.c`` as ``["a", "b", "c"]`` for every attribute access on a plain name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = [node.attr]
            value = node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name):
                yield [value.id, *reversed(chain)]


def _found_elsewhere(name: str, home: str) -> bool:
    """Whether the top-level module of ``name`` exists outside the script's directory."""
    top = name.partition(".")[0]
    if top in sys.builtin_module_names or importlib.machinery.FrozenImporter.find_spec(top):
        return True
    spec = _quietly(importlib.util.find_spec, top)
    if spec is None:
        return False
    places = [spec.origin] if spec.has_location else []
    return not any(_inside(p, home) for p in [*places, *(spec.submodule_search_locations or [])])


def _import_submodule(name: str, reached_only: bool) -> None:
    """Import submodule ``name`` of an imported package; one only reached as an attribute
    only if its package loads submodules lazily (a module ``__getattr__``, as numpy's):
    reaching another package's unimported submodule fails in the point, and must still."""
    parent = sys.modules.get(name.rpartition(".")[0])
    if parent is None or not hasattr(parent, "__path__") or name in sys.modules:
        return
    if reached_only and "__getattr__" not in getattr(parent, "__dict__", {}):
        return
    if _quietly(importlib.util.find_spec, name) is not None:
        _quietly(importlib.import_module, name)


def _forget_local(home: str) -> None:
    for name, module in list(sys.modules.items()):
        found = getattr(module, "__dict__", {})  # not getattr: a lazy module might import
        places = [found.get("__file__"), *(found.get("__path__") or [])]
        if any(isinstance(p, str) and _inside(p, home) for p in places):
            del sys.modules[name]


def _inside(path: str, home: str) -> bool:
    return os.path.realpath(path).startswith(home + os.sep)


def _quietly(function, name: str):
    try:
        return function(name)
    except BaseException:  # noqa: BLE001 - a module may fail in any way (even SystemExit)
        return None


def captured(run) -> tuple[bytes, bytes]:
    """What ``run`` writes to descriptors 1 and 2: each point gets it, as if it had imported."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    files = [os.memfd_create("stdout"), os.memfd_create("stderr")]
    try:
        os.dup2(files[0], 1)
        os.dup2(files[1], 2)
        run()
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for target, fd in enumerate(saved, start=1):
            os.dup2(fd, target)
            os.close(fd)
    found = []
    for fd in files:
        found.append(os.pread(fd, os.fstat(fd).st_size, 0))
        os.close(fd)
    return found[0], found[1]


def single_threaded() -> bool:
    """Whether forking is safe: one thread, once libraries that stop their thread pools for a
    fork (OpenBLAS, which numpy starts) have done so in a trial fork."""
    if _thread_count() > 1:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return _thread_count() == 1


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))
