"""A worker script run as ``python SCRIPT ARGS`` would run it, inside the task runner.

The script runs as ``__main__``, a module of its own as the interpreter makes it (not
``runpy.run_path``, whose namespace is gone when the script ends: atexit handlers and threads
still see this one), with fresh globals each point. In a forked point it ends as the
interpreter would (``finish``): non-daemon threads joined, ``atexit`` handlers run,
``__main__`` cleared (an unclosed file is flushed and closed, not lost in a garbage cycle),
stdio flushed; the caller then ``os._exit``s, so the preloaded modules are never torn down.
``SystemExit`` codes and tracebacks are those of the interpreter.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import io
import os
import sys
import types
from importlib.machinery import SourceFileLoader
from typing import Any

from superbatch.taskrunner.supervise import OutOfTime

MT19937_KEY_WORDS = 624
MT19937_KEY_BYTES = MT19937_KEY_WORDS * 4
_KEY_HEAD = (0x80000000).to_bytes(4, sys.byteorder)  # the key's first word, as numpy sets it


class Script:
    """A worker script, read and compiled once per task runner."""

    def __init__(self, argv: list[str], executable: str):
        self.argv = argv  # [interpreter word, script, *args]
        self.path = argv[1]
        self.executable = executable
        self.error = None
        try:
            with io.open_code(self.path) as handle:
                source = handle.read()
        except OSError as exc:
            self.code = None
            self.error = (
                f"{argv[0]}: can't open file {self.path!r}: [Errno {exc.errno}] {exc.strerror}"
            )
            return
        try:
            self.code = compile(source, self.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            self.code = None
            self.syntax_error = exc

    def main_module(self) -> types.ModuleType:
        """A fresh ``__main__`` module for the script, as the interpreter makes it."""
        main = types.ModuleType("__main__")
        vars(main).update(
            __annotations__={},
            __builtins__=builtins,
            __file__=self.path,
            __cached__=None,
            __loader__=SourceFileLoader("__main__", self.path),
        )
        return main

    def enter(self, main: types.ModuleType) -> None:
        """Make this process what ``python SCRIPT`` is as the script starts: ``main`` as
        ``__main__``, the script's ``sys.argv``, ``sys.orig_argv`` and ``sys.executable``."""
        sys.modules["__main__"] = main
        sys.argv = self.argv[1:]
        sys.orig_argv = list(self.argv)
        sys.executable = self.executable

    def run(self, main: types.ModuleType | None = None) -> tuple[int, types.ModuleType]:
        """Run the script once as ``__main__``: its exit code and its module. Given ``main``,
        this process has ``entered`` it already (a forked point: its task runner did, once);
        else in a fresh one."""
        if main is None:
            main = self.main_module()
            self.enter(main)
        if self.error:
            print(self.error, file=sys.stderr)
            return 2, main
        if self.code is None:
            report(self.syntax_error, self.path)
            return 1, main
        try:
            exec(self.code, vars(main))
        except SystemExit as exc:
            return exit_code(exc.code), main
        except OutOfTime:
            raise
        except BaseException as exc:  # noqa: BLE001 - reported as the interpreter would
            report(exc, self.path)
            return 1, main
        return 0, main


def exit_code(code) -> int:
    """``SystemExit.code`` as CPython turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def report(exc: BaseException, script: str) -> None:
    """The traceback from the script's first frame on, as ``python SCRIPT`` prints it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    if tb is None and not isinstance(exc, SyntaxError):
        tb = exc.__traceback__
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def finish(main: types.ModuleType) -> None:
    """What the interpreter does at exit, short of tearing the preloaded modules down."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()  # joins non-daemon threads, as Py_FinalizeEx does first
    atexit._run_exitfuncs()
    clear(vars(main))
    # Cyclic garbage, with its finalizers. A full collection also empties the interpreter's
    # free lists, copying their pages into this process (~80 page faults); when nothing was
    # promoted to the oldest generation (it was empty at the fork: gc.freeze), the younger
    # two hold every object a collection could free.
    gc.collect(2 if gc.get_objects(generation=2) else 1)
    flush()


def clear(namespace: dict) -> None:
    """As the interpreter clears a module at exit: ``_private`` names first, then the rest."""
    for key in [k for k in namespace if k[:1] == "_" and k[1:2] != "_"]:
        namespace[key] = None
    for key in [k for k in namespace if k != "__builtins__"]:
        namespace[key] = None


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:  # not contextlib.suppress: this runs twice a point
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a worker's replaced stream may not flush
            pass


class Reseeder:
    """Seeds numpy's global generator afresh before each forked point, as an interpreter's
    import of numpy seeds it: a whole MT19937 key from the OS, its first word's top bit set
    (numpy's ``MT19937.__init__``). The key is written straight into the generator's state
    through its documented ctypes interface (~10 us; ``seed(key)`` converts it through
    several arrays, whose pages the process then copies from its last child), once reading
    there gave what ``get_state`` gives (the layout proven, nothing written); else ``seed``
    it is. Made after
    preloading, it seeds once the usual way, which drops a normal a preloaded module left
    cached; the task runner draws nothing itself, so none is cached again."""

    def __init__(self) -> None:
        self.generator: Any = None  # numpy's RandomState (or, lacking one, numpy.random)
        self.address = 0
        numpy_random = sys.modules.get("numpy.random")
        numpy = sys.modules.get("numpy")
        if numpy_random is None or numpy is None:
            return  # nothing to seed: a point that imports numpy seeds it at import
        self.numpy = numpy
        self.generator = getattr(getattr(numpy_random, "mtrand", None), "_rand", None)
        if self.generator is None:
            self.generator = numpy_random  # its module-level seed(), whatever it is
            return
        self.generator.seed(self._key_array())  # also drops a cached normal (has_gauss)
        self.address = self._state_address()

    def __call__(self) -> None:
        if self.address:
            self._memmove(
                self.address, _KEY_HEAD + os.urandom(MT19937_KEY_BYTES - 4), MT19937_KEY_BYTES
            )
            self._pos.value = MT19937_KEY_WORDS
        elif self.generator is not None:
            self.generator.seed(self._key_array())

    def _key_array(self):
        return self.numpy.frombuffer(os.urandom(MT19937_KEY_BYTES), dtype=self.numpy.uint32)

    def _state_address(self) -> int:
        """The address of the generator's ``mt19937_state`` (its 624 key words, then
        ``pos``), once reading there gave what ``get_state`` gives; else 0."""
        try:
            import ctypes

            bit_generator = self.generator._bit_generator
            if type(bit_generator).__name__ != "MT19937":
                return 0
            address = int(bit_generator.ctypes.state_address)
            name, words, at, _, _ = self.generator.get_state(legacy=True)
            pos = ctypes.c_int.from_address(address + MT19937_KEY_BYTES)
            if (
                name != "MT19937"
                or ctypes.string_at(address, MT19937_KEY_BYTES) != words.tobytes()
                or pos.value != at
            ):
                return 0
            self._memmove, self._pos = ctypes.memmove, pos
            return address
        except Exception:  # noqa: BLE001 - any numpy without that interface: seed() it is
            return 0
