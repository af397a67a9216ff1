"""Every process a point starts ends with the point, as on Azure Batch (Linux).

The task runner is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process that leaves its
parent (a daemon that double-forks and ``setsid``s) is re-parented to it, not to init. When a
point ends (its process exits, runs out of wall time, or the task runner is told to stop),
the task runner kills every process still below it and reaps them before the point counts
as ended. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C functions behind signal.py
import contextlib
import ctypes
import functools
import os
import resource
import select
import signal
import sys
import time

SUPPORTED = sys.platform.startswith("linux")
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# A process that cannot be killed (another user's, after a setuid exec) is left after this.
GIVE_UP_S = 10.0


class Ended(Exception):
    """The task runner was told to stop (SIGTERM)."""


class OutOfTime(BaseException):
    """Raised into a point running inside the task runner when the wall time is up; the
    point's code lets it through (a worker that catches it runs on until the runner's
    backstop kills the task runner)."""


@functools.lru_cache(maxsize=None)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def become_subreaper() -> None:
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Get ``signum`` when ``parent`` exits (the thread that started this process)."""
    _prctl(PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:  # it exited before the line above
        os._exit(1)


def parent_death(signum: int = signal.SIGKILL):
    """``die_with_parent`` made ready before a fork: the child then only calls ``prctl``
    (no ctypes look-ups or errno bookkeeping, whose pages each forked point would copy)."""
    prctl = ctypes.CDLL(None).prctl

    def arm(parent: int) -> None:
        if prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            _prctl(PR_SET_PDEATHSIG, signum)  # again, to raise with its errno
        if os.getppid() != parent:  # it exited before the line above
            os._exit(1)

    return arm


def exit_code(status: int) -> int:
    """A wait status as ``Popen.returncode`` gives it (``os.waitstatus_to_exitcode``, 3.9)."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


class Watch:
    """SIGCHLD and SIGTERM as events the task runner waits for while a child runs.

    The handlers only note the signal (the wakeup descriptor ends the ``select``): an
    exception raised wherever a signal lands could cut the ending of a point short.
    """

    def __init__(self) -> None:
        self.ended = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _noted)
        # Held here too: a forked child that drops its handlers then frees nothing (freeing
        # a handler would touch, and copy, the pages of all it refers to).
        self._on_term = self._end
        self.arm()

    def arm(self) -> None:
        """SIGTERM ends the task again (a warm task runner dies of it between tasks)."""
        signal.signal(signal.SIGTERM, self._on_term)

    def _end(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self.ended = True

    def forget(self) -> None:
        """In a forked child: the signals' defaults back, the pipe closed."""
        # The C functions: signal.signal's wrapper turns what it returns into enums, whose
        # classes' pages every forked point would then copy (~60 page faults a point).
        _signal.set_wakeup_fd(-1)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
        _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
        os.close(self._read)
        os.close(self._write)

    def wait(self, pid: int, deadline: float | None) -> int | None:
        """The wait status of child ``pid`` (reaping orphans meanwhile); None once
        ``deadline`` (``time.monotonic``) passed. Raises Ended on SIGTERM."""
        while True:
            status = _reap(pid)
            if status is not None:
                return status
            if self.ended:
                raise Ended("ended by the runner")
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return None
            self._pause(timeout)

    def wait_all(self, pids, deadline: float | None = None) -> dict[int, int]:
        """The wait status of each child in ``pids`` that has exited by ``deadline`` (all of
        them when it is None). Raises Ended on SIGTERM."""
        left, done = set(pids), {}
        while left:
            for pid, status in _reap_all().items():
                if pid in left:
                    left.discard(pid)
                    done[pid] = status
            if not left:
                break
            if self.ended:
                raise Ended("ended by the runner")
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                break
            self._pause(timeout)
        return done

    def _pause(self, timeout: float | None) -> None:
        """Until a signal arrives (or ``timeout``)."""
        select.select([self._read], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass


def _noted(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    """SIGCHLD's handler: the signal itself ends the wait (through the wakeup descriptor)."""


def _reap(pid: int) -> int | None:
    """Reap every child that has exited; the wait status of ``pid`` if it is one of them."""
    return _reap_all().get(pid)


def _reap_all() -> dict[int, int]:
    """Reap every child that has exited: their wait statuses."""
    found: dict[int, int] = {}
    while True:
        try:
            done, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if done == 0:
            return found
        found[done] = status


def end_descendants() -> None:
    """Kill and reap every process below this one."""
    # No child left means no descendant either: orphans come here, to the subreaper.
    if not _has_children():
        return  # the usual case, once a point: nothing more to ask the kernel
    me = os.getpid()
    deadline = time.monotonic() + GIVE_UP_S
    while _has_children() and time.monotonic() < deadline:
        for pid in _descendants(me):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _has_children() -> bool:
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if done == 0:
            return True


def _descendants(root: int) -> list[int]:
    if not SUPPORTED:
        return []
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def exec_shell(command: str, env: dict, supervisor: int) -> None:
    """In a forked child: become ``/bin/sh -c command``; never returns."""
    try:
        if SUPPORTED:
            die_with_parent(supervisor)
        restore_signals()
        os.execve("/bin/sh", ["/bin/sh", "-c", command], env)
    except BaseException as exc:  # noqa: BLE001 - the child must never return
        with contextlib.suppress(BaseException):
            os.write(2, f"superbatch: cannot run /bin/sh: {exc}\n".encode())
    finally:
        os._exit(127)


def restore_signals() -> None:
    """As subprocess's restore_signals: what Python ignores, the worker must not."""
    for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def exit_as(code: int) -> None:
    """Exit as a process that exited with ``code`` (negative: killed by that signal)."""
    if code >= 0:
        os._exit(code)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the worker dumped its core, if any
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(-code, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
    os.kill(os.getpid(), -code)
    os._exit(128 - code)
