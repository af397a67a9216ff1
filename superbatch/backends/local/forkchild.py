"""One point in a process forked by the fork server, run as ``python SCRIPT ARGS`` would run it.

Before the script starts, the child takes the point's place: a process group of its own (so a
wall-time kill ends it; the server, a subreaper, ends the processes it leaves), death with
the server (``PR_SET_PDEATHSIG``), the task's stdout and stderr on descriptors 1 and 2 (so C
extensions' output lands there too), the task lock closed (the server holds it), the point's
directory and environment (``PWD`` too, as ``/bin/sh`` exports it) and ``sys.argv``; the
server has given numpy's global generator a fresh seed just before the fork (``random``
reseeds itself after one), so no two points draw the same numbers. The script runs as
``__main__``, a module of its own as the interpreter makes it (not ``runpy.run_path``, whose
namespace is gone when the script ends: atexit handlers and threads still see this one). It
ends as the interpreter would: ``SystemExit`` codes, a traceback and 1 for an uncaught
exception, non-daemon threads joined, ``atexit`` handlers run, ``__main__`` cleared (an
unclosed file is flushed and closed, not lost in a garbage cycle), stdio flushed; then
``os._exit``, so the preloaded modules are never torn down.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import io
import os
import sys
import traceback
import types
from importlib.machinery import SourceFileLoader
from typing import NoReturn

from superbatch.backends.local.reaper import die_with_parent


def become_point(
    conn,
    cwd: str,
    env: dict[str, str],
    fds: list[int],
    argv: list[str],
    startup_env: dict[str, str],
    preload_output: tuple[bytes, bytes],
    server: int,
) -> NoReturn:
    """Run the script as the point (``argv``: ``[python, script, *args]``); never return."""
    code = 1
    try:
        die_with_parent(server)
        _take_place(conn, cwd, env, fds, argv, startup_env, preload_output)
        main = _main_module(argv[1])
        code = _run(main, argv)
        _end(main)
    except BaseException:  # noqa: BLE001 - the child must never return into the server
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


def _take_place(conn, cwd, env, fds, argv, startup_env, preload_output) -> None:
    os.setpgid(0, 0)
    conn.close()
    out, err, lock = fds
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    os.close(lock)
    os.chdir(cwd)
    # The server's environment is the runner's (and whatever its imports set, as a worker's
    # own imports would): only what differs for this point changes.
    for key in startup_env.keys() - env.keys():
        os.environ.pop(key, None)
    for key, value in env.items():
        if startup_env.get(key) != value:
            os.environ[key] = value
    os.environ["PWD"] = cwd
    sys.argv = argv[1:]
    sys.orig_argv = list(argv)
    # What the imports printed, as if this process had imported: stdout into its buffer
    # (Python's prints wait there in a process per point too), stderr straight out.
    sys.stdout.buffer.write(preload_output[0])
    _write_all(2, preload_output[1])


def reseed() -> None:
    """A fresh seed for numpy's global generator, seeded once at import like ``random``'s."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _main_module(script: str) -> types.ModuleType:
    main = types.ModuleType("__main__")
    vars(main).update(
        __annotations__={},
        __builtins__=builtins,
        __file__=script,
        __cached__=None,
        __loader__=SourceFileLoader("__main__", script),
    )
    sys.modules["__main__"] = main
    return main


def _run(main: types.ModuleType, argv: list[str]) -> int:
    script = argv[1]
    try:
        with io.open_code(script) as handle:
            source = handle.read()
    except OSError as exc:
        print(
            f"{argv[0]}: can't open file {script!r}: [Errno {exc.errno}] {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    try:
        exec(compile(source, script, "exec", dont_inherit=True), vars(main))
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException as exc:  # noqa: BLE001 - reported as the interpreter would
        _report(exc, script)
        return 1
    return 0


def _exit_code(code) -> int:
    """``SystemExit.code`` as CPython turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _report(exc: BaseException, script: str) -> None:
    """The traceback from the script's first frame on, as ``python SCRIPT`` prints it."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _end(main: types.ModuleType) -> None:
    """What the interpreter does at exit, short of tearing the preloaded modules down."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()  # joins non-daemon threads, as Py_FinalizeEx does first
    atexit._run_exitfuncs()
    _clear(vars(main))
    gc.collect()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _clear(namespace: dict) -> None:
    """As the interpreter clears a module at exit: ``_private`` names first, then the rest."""
    for key in [k for k in namespace if k[:1] == "_" and k[1:2] != "_"]:
        namespace[key] = None
    for key in [k for k in namespace if k != "__builtins__"]:
        namespace[key] = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
