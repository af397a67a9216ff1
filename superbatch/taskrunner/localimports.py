"""The worker's own modules, imported afresh by every forked point, from code compiled once.

A point imports the modules of the script's own directory itself (``preload.py`` never
does: what they do as they are imported belongs to the point, in its directory, with its
environment and inputs). That directory is the job's snapshot of the worker's files, so
the task runner reads and compiles its top-level modules once, before it forks; a point's ``import`` then gets the module as Python's own
finder and loader would make it (``__file__``, ``__spec__``, ``__cached__``, its loader's
``get_data``), runs it, and skips finding, reading and unmarshalling the file again (it
only checks, as Python checks a cached compilation, that the file's time and size are
unchanged: a point may edit it). It serves a name only where Python would load
that file: while the script's directory is first on ``sys.path``, and for a ``NAME.py``
that no package, extension module or bytecode file of the same name there outranks.

A module whose code only binds literals (the seed's ``constants.py``: names, strings,
numbers and containers of them) does nothing at import but make that namespace, so running
it in the task runner, before the fork, is running it in the point. Such a module the script
imports before anything else runs (``preimport``) is imported once, before the first fork,
and a point finds it imported; it is dropped again (``refresh``, before each fork) as soon as
its file's time or size changed, and the next point imports the edited file.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import os
import sys


class _Loader(importlib.machinery.SourceFileLoader):
    """A source file's loader whose code was compiled in advance."""

    def __init__(self, fullname: str, path: str, code):
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str):
        return self._code if fullname == self.name else super().get_code(fullname)


class LocalModules:
    """A meta path finder of the top-level modules in ``home``, compiled once."""

    def __init__(self, home: str):
        self.home = home
        self.code: dict[str, tuple[str, tuple[int, int], object]] = {}
        self.pure: set[str] = set()  # modules whose code only binds literals
        self.imported: set[str] = set()  # pure modules imported by preimport
        try:
            names = os.listdir(home)
        except OSError:
            return
        stems: dict[str, int] = {}
        for name in names:
            stem = name.partition(".")[0]
            stems[stem] = stems.get(stem, 0) + 1
        for name in names:
            stem, _, suffix = name.partition(".")
            path = os.path.join(home, name)
            # any other file or folder of the same stem (a package, an extension module, a
            # .pyc) may outrank the source: Python's own finder decides those
            if suffix != "py" or stems[stem] != 1 or not stem.isidentifier():
                continue
            try:
                with open(path, "rb") as handle:
                    source = handle.read()
                    stamp = _stamp(os.fstat(handle.fileno()))
                tree = ast.parse(source, path)
                self.code[stem] = (path, stamp, compile(tree, path, "exec", dont_inherit=True))
            except (OSError, SyntaxError, ValueError):
                continue  # the point's own import meets the error, as it would
            if _binds_literals_only(tree):
                self.pure.add(stem)

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ARG002 - the protocol
        found = self.code.get(fullname)
        if found is None or path is not None or not sys.path or sys.path[0] != self.home:
            return None
        origin, stamp, code = found
        try:
            if _stamp(os.stat(origin)) != stamp:
                return None  # changed since (a point may edit it): Python's finder reads it
        except OSError:
            return None
        loader = _Loader(fullname, origin, code)
        return importlib.util.spec_from_file_location(fullname, origin, loader=loader)

    def preimport(self, imports: list[tuple[str, tuple[str, ...]]]) -> None:
        """Import the literal-only modules among the script's leading ``imports`` (each a
        module and the names taken from it), as long as every import before one runs no
        code in a point: its module already imported (preloaded), or one of these."""
        for module, names in imports:
            found = sys.modules.get(module)
            if module in self.code:
                if module not in self.pure or found is not None:
                    return
                found = self._import(module)
            if found is None or any(n != "*" and n not in vars(found) for n in names):
                return  # its import would run code (or fail) in the point: stop here

    def _import(self, name: str):
        try:
            module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the point's own import meets it, as it would
            sys.modules.pop(name, None)
            return None
        if not isinstance(getattr(module.__spec__, "loader", None), _Loader):
            sys.modules.pop(name, None)  # not this file as compiled: Python's finder chose
            return None
        self.imported.add(name)
        return module

    def refresh(self) -> None:
        """Before a fork: a preimported module whose file changed since is dropped (a point
        may edit it), and the next point imports the file as it is now."""
        for name in list(self.imported):
            path, stamp, _ = self.code[name]
            try:
                same = _stamp(os.stat(path)) == stamp
            except OSError:
                same = False
            if not same:
                self.imported.discard(name)
                sys.modules.pop(name, None)

    def forget(self) -> None:
        for name in self.imported:
            sys.modules.pop(name, None)
        self.imported.clear()


def _binds_literals_only(tree: ast.Module) -> bool:
    """Whether running the module only binds names to literals (its docstring aside)."""
    for at, node in enumerate(tree.body):
        if at == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.simple and node.value is not None:
            targets, value = [node.target], node.value
        else:
            return False
        if not all(_names_only(target) for target in targets) or not _literal(value):
            return False
    return True


def _names_only(target: ast.expr) -> bool:
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_names_only(item) for item in target.elts)
    return isinstance(target, ast.Name)


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _stamp(stat: os.stat_result) -> tuple[int, int]:
    """What Python checks a cached compilation against: the source's mtime and size."""
    return stat.st_mtime_ns, stat.st_size


def install(home: str) -> LocalModules:
    """Serve ``home``'s modules from now on (in place of the finder an earlier task set,
    whose preimported modules are forgotten)."""
    for earlier in [f for f in sys.meta_path if isinstance(f, LocalModules)]:
        earlier.forget()
        sys.meta_path.remove(earlier)
    finder = LocalModules(home)
    if finder.code:
        path_finder = importlib.machinery.PathFinder
        at = sys.meta_path.index(path_finder) if path_finder in sys.meta_path else None
        # after the builtin and frozen modules, as files come
        sys.meta_path.insert(len(sys.meta_path) if at is None else at, finder)
    return finder
