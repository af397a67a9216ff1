"""A point run as a process of its own, seen from the runner: started, waited for, ended.

On Linux the process is a supervisor (``reaper``) that runs the worker command and ends
every process it started when the point ends; it holds the task lock, the worker does not.
Elsewhere the worker command runs in a process group of its own that inherits the task lock,
and ending the point kills that group (a process that leaves the group outlives it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from typing import IO

from superbatch.backends.local import reaper
from superbatch.backends.local.nanny import kill_group

SUPERVISOR = os.path.abspath(reaper.__file__)  # run by path: it needs no site-packages


class SupervisedProcess:
    """A point below its supervisor, waited for as a ``subprocess.Popen``."""

    def __init__(self, command: str, cwd, env: dict[str, str], out: IO, err: IO, lock: int):
        # The supervisor ends the point when the runner's end of this pipe closes.
        watched, self._watch = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, str(lock), str(watched), command],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=(lock, watched),
            )
        except BaseException:
            os.close(self._watch)
            raise
        finally:
            os.close(watched)
        self.pid = self.holder = self._proc.pid

    def wait(self, timeout: float | None = None) -> int:
        code = self._proc.wait(timeout)
        with contextlib.suppress(OSError):
            os.close(self._watch)
        return code

    def end(self) -> None:
        """Ask the supervisor to end the point (it kills all the point's processes)."""
        with contextlib.suppress(OSError):
            self._proc.terminate()


class GroupProcess:
    """A point in a process group of its own that holds the task lock."""

    def __init__(self, command: str, cwd, env: dict[str, str], out: IO, err: IO, lock: int):
        self._proc = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(lock,),
        )
        self.pid = self.holder = self._proc.pid

    def wait(self, timeout: float | None = None) -> int:
        return self._proc.wait(timeout)

    def end(self) -> None:
        kill_group(self.pid)


def start_process(command: str, cwd, env: dict[str, str], out: IO, err: IO, lock: int):
    """The point's process: supervised where the system can, else a process group."""
    kind = SupervisedProcess if reaper.SUPPORTED else GroupProcess
    return kind(command, cwd, env, out, err, lock)


def end_holder(pid: int) -> None:
    """End what an earlier runner left holding a task lock: its supervisor, or its group."""
    if reaper.SUPPORTED:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    else:
        kill_group(pid)
