"""How a point runs, by ``worker.isolation``: forked from the task runner (``point``), inside
it (``task``), or as ``/bin/sh -c COMMAND`` (``process``). Each returns the point's exit code
(negative: killed by that signal), or None when it ran out of the task's wall time."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import time
from typing import Callable

from superbatch.taskrunner import supervise
from superbatch.taskrunner.localimports import LocalModules
from superbatch.taskrunner.script import Reseeder, flush
from superbatch.taskrunner.supervise import OutOfTime

Body = Callable[[], int]  # runs the point in this process; its exit code


class Forked:
    """A child forked per point, ending as a process would (``os._exit``)."""

    runs_body = True
    own_process = True  # a process per point: a task's may run several at once (fanout.py)

    def __init__(
        self,
        lock_fd: int | None,
        replay: tuple[bytes, bytes] = (b"", b""),
        local_modules: LocalModules | None = None,
    ):
        self.watch = supervise.Watch()
        self.lock_fd = lock_fd
        self.private: tuple = ()  # other descriptors of the task runner's own (serve.py)
        self.replay = replay  # what preloading printed: each point prints it, as if it had
        self.local_modules = local_modules  # the worker's own, some imported before the fork
        self.reseed = Reseeder()
        self.die_with_parent = supervise.parent_death() if supervise.SUPPORTED else None
        self.pid = os.getpid()

    def in_sharer(self) -> None:
        """In a process forked to run some of the task's points (``fanout.py``)."""
        self.watch.forget()
        self.watch = supervise.Watch()
        self.pid = os.getpid()

    def run(self, body: Body, deadline: float | None) -> int | None:
        flush()
        if self.local_modules is not None:
            self.local_modules.refresh()  # a module a point edited is imported afresh
        # This child's own generator. Seeded here, before the fork, where the generator's
        # pages are this process's alone: after it, writing them would copy them.
        self.reseed()
        # What the task runner allocated since the last point is frozen too: a child's
        # collections then touch (and copy) none of its pages.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            self._child(body, self.pid)
        status = self.watch.wait(pid, deadline)
        return None if status is None else supervise.exit_code(status)

    def _child(self, body: Body, parent: int) -> None:
        code = 1
        try:
            self.watch.forget()
            if self.die_with_parent is not None:
                self.die_with_parent(parent)
            for fd in (self.lock_fd, *self.private):
                if fd is not None:
                    os.close(fd)  # the task runner holds the task lock, never a point
            if self.replay[0]:
                sys.stdout.buffer.write(self.replay[0])
            if self.replay[1]:
                _write_all(2, self.replay[1])
            code = body()
            flush()
        except BaseException:  # noqa: BLE001 - the child must never return into the runner
            with contextlib.suppress(BaseException):
                import traceback

                traceback.print_exc()
        finally:
            os._exit(code)


class Shell:
    """``/bin/sh -c COMMAND`` per point, a fresh process (in this process's directory and
    environment)."""

    runs_body = False
    own_process = True

    def __init__(self, command: str):
        self.watch = supervise.Watch()
        self.command = command

    def in_sharer(self) -> None:
        """In a process forked to run some of the task's points (``fanout.py``)."""
        self.watch.forget()
        self.watch = supervise.Watch()

    def run(self, body: Body, deadline: float | None) -> int | None:
        flush()
        me = os.getpid()
        env = dict(os.environ)
        pid = os.fork()
        if pid == 0:
            self.watch.forget()
            supervise.exec_shell(self.command, env, me)
        status = self.watch.wait(pid, deadline)
        return None if status is None else supervise.exit_code(status)


class Inline:
    """The point runs in the task runner's own process, one after another. A point cut
    short by the wall time leaves the process ``spoiled``: whatever it was doing (its
    threads, a half-changed module) may be left mid-way, so no later task may run in it."""

    runs_body = True
    own_process = False

    def __init__(self) -> None:
        self.spoiled = False
        self.arm()

    def arm(self) -> None:
        """SIGTERM ends the point and the process (a warm task runner idles without it)."""
        signal.signal(signal.SIGTERM, _ended)

    def run(self, body: Body, deadline: float | None) -> int | None:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            signal.signal(signal.SIGALRM, _out_of_time)
            signal.setitimer(signal.ITIMER_REAL, left)
        try:
            return body()
        except OutOfTime:
            self.spoiled = True
            return None
        finally:
            if deadline is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
            flush()


def _ended(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    flush()
    supervise.end_descendants()
    supervise.exit_as(-signal.SIGKILL)


def _out_of_time(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise OutOfTime()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
