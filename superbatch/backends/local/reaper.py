"""Every process a point starts ends with the point, as on Azure Batch (Linux).

A point runs below a supervisor: its slot's fork server (a forked point), or this module run
as a process of its own (``python -I -S reaper.py LOCK WATCH COMMAND``, a process per point,
which runs ``/bin/sh -c COMMAND``). The supervisor is a child subreaper
(``PR_SET_CHILD_SUBREAPER``): a process that leaves its parent (a daemon that double-forks
and ``setsid``s) is re-parented to it, not to init. When the point's main process exits, the
runner ends the point (SIGTERM to the supervisor) or the runner goes away (its end of
``WATCH`` closes), the supervisor kills every process still below it and reaps them before
the point counts as ended. It alone holds the task lock (``LOCK``): the worker's processes
never inherit it, so none of them can keep a finished task looking active.

Standard library only: it runs under ``-I -S``, with neither site-packages nor the worker's
``PYTHON*`` variables.
"""

from __future__ import annotations

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
    """The runner ended the point (SIGTERM) or went away (the watched descriptor closed)."""


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc().prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def become_subreaper() -> None:
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when ``parent`` (a single-threaded supervisor) exits."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it exited before the line above
        os._exit(1)


class Watch:
    """SIGCHLD and SIGTERM as events a supervisor waits for, along with a descriptor.

    The handlers only note the signal (the wakeup descriptor ends the ``select``): an
    exception raised wherever a signal lands could cut the ending of a point short.
    """

    def __init__(self) -> None:
        self.ended = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.signal(signal.SIGTERM, self._end)

    def _end(self, signum, frame) -> None:  # noqa: ARG002 - signal handler signature
        self.ended = True

    def forget(self) -> None:
        """In a forked child: the signals' defaults back, the pipe closed."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.close(self._read)
        os.close(self._write)

    def wait(self, pid: int, watched: int) -> int:
        """The wait status of child ``pid``, reaping orphans meanwhile.

        Raises Ended on SIGTERM or once ``watched`` is readable (the runner's end closed).
        """
        while True:
            status = _reap(pid)
            if status is not None:
                return status
            if self._next(watched):
                raise Ended("the runner went away")

    def idle(self, watched: int) -> None:
        """Wait until ``watched`` is readable; raises Ended on SIGTERM."""
        while not self._next(watched):
            pass

    def _next(self, watched: int) -> bool:
        """Whether ``watched`` is readable, after the next event."""
        if self.ended:
            raise Ended("ended by the runner")
        readable, _, _ = select.select([watched, self._read], [], [])
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass
        if self.ended:
            raise Ended("ended by the runner")
        return watched in readable


def _reap(pid: int) -> int | None:
    """Reap every child that has exited; the wait status of ``pid`` if it is one of them."""
    found = None
    while True:
        try:
            done, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if done == 0:
            return found
        if done == pid:
            found = status


def end_descendants() -> None:
    """Kill and reap every process below this one."""
    me = os.getpid()
    deadline = time.monotonic() + GIVE_UP_S
    # No child left means no descendant either: orphans come here, to the subreaper.
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


def main(argv: list[str]) -> None:
    """Supervise ``/bin/sh -c COMMAND`` as one point; exit as it did."""
    lock, watched, command = int(argv[0]), int(argv[1]), argv[2]
    os.set_inheritable(lock, False)
    os.set_inheritable(watched, False)
    become_subreaper()
    watch = Watch()
    status = None
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        _become_worker(watch, me, command)
    with contextlib.suppress(Ended):
        status = watch.wait(pid, watched)
    end_descendants()
    _exit_as(status)


def _become_worker(watch: Watch, supervisor: int, command: str) -> None:
    try:
        watch.forget()
        die_with_parent(supervisor)
        # As subprocess's restore_signals: what Python ignores, the worker must not.
        for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        os.execv("/bin/sh", ["/bin/sh", "-c", command])
    except BaseException as exc:  # noqa: BLE001 - the child must never return
        with contextlib.suppress(BaseException):
            os.write(2, f"superbatch: cannot run /bin/sh: {exc}\n".encode())
    finally:
        os._exit(127)


def _exit_as(status: int | None) -> None:
    """Exit as the worker did; killed (SIGKILL) when the runner ended the point."""
    code = -int(signal.SIGKILL) if status is None else os.waitstatus_to_exitcode(status)
    if code >= 0:
        os._exit(code)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the worker dumped its core, if any
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(-code, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
    os.kill(os.getpid(), -code)
    os._exit(128 - code)


if __name__ == "__main__":
    main(sys.argv[1:])
