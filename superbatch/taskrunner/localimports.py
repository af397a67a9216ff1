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
"""

from __future__ import annotations

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
                self.code[stem] = (path, stamp, compile(source, path, "exec", dont_inherit=True))
            except (OSError, SyntaxError, ValueError):
                continue  # the point's own import meets the error, as it would

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


def _stamp(stat: os.stat_result) -> tuple[int, int]:
    """What Python checks a cached compilation against: the source's mtime and size."""
    return stat.st_mtime_ns, stat.st_size


def install(home: str) -> None:
    """Serve ``home``'s modules from now on (in place of the finder an earlier task set)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, LocalModules)]
    finder = LocalModules(home)
    if not finder.code:
        return
    path_finder = importlib.machinery.PathFinder
    at = sys.meta_path.index(path_finder) if path_finder in sys.meta_path else len(sys.meta_path)
    sys.meta_path.insert(at, finder)  # after the builtin and frozen modules, as files come
