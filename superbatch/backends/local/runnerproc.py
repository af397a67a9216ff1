"""A job's local runner seen from outside: is one running, what stopped it, start, stop."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from superbatch.jobs.state import JobState
from superbatch.util.files import atomic_write_bytes

if TYPE_CHECKING:
    import subprocess

LOCK_FILE = "runner.lock"
PID_FILE = "runner.pid"
ERROR_FILE = "runner-error.json"
LOG_FILE = "runner.log"
STARTING_FILE = "runner.starting"  # the pid of a runner started but not yet holding the lock
# A runner takes the job's lock once its interpreter is up: seconds at most, even on a
# loaded machine; a "starting" runner older than this is not believed.
STARTING_GRACE_S = 60.0


def runner_alive(state: JobState) -> bool:
    """Whether a runner holds this job's lock right now, or one was just started for it and
    is still starting (so that whoever waits does not start another meanwhile)."""
    return _lock_held(state) or _starting(state) is not None


def _lock_held(state: JobState) -> bool:
    path = state.dir / LOCK_FILE
    if not path.is_file():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _starting(state: JobState) -> int | None:
    """The pid of a runner started for the job that does not hold its lock yet."""
    path = state.dir / STARTING_FILE
    try:
        age = time.time() - path.stat().st_mtime
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    if not 0 <= age < STARTING_GRACE_S:  # also a clock set back: not believed
        return None
    return pid if _exists(pid) else None


def _exists(pid: int) -> bool:
    if os.path.exists("/proc/self/stat"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie has ended
        except FileNotFoundError:
            return False
        except (OSError, IndexError):
            pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def read_runner_error(state: JobState) -> dict | None:
    try:
        data = json.loads((state.dir / ERROR_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("message"), str) else None


def start_detached(state: JobState, parallel: int | None = None) -> subprocess.Popen:
    """Start a runner for the job in the background (it outlives this process)."""
    return spawn_runner(state, parallel)


def spawn_runner(
    state: JobState, parallel: int | None, gate: int | None = None
) -> subprocess.Popen:
    """``start_detached``; with ``gate``, a pipe's read end it waits on (``gate.py``)."""
    import subprocess  # here only: status and collect look at the runner, start none

    cmd = [sys.executable, "-m", "superbatch.backends.local", str(state.dir)]
    if parallel:
        cmd += ["--parallel", str(parallel)]
    if gate is not None:
        cmd += ["--gate", str(gate)]
    with (state.dir / LOG_FILE).open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            pass_fds=() if gate is None else (gate,),
        )
    atomic_write_bytes(state.dir / STARTING_FILE, str(proc.pid).encode())
    return proc


def stop_runner(state: JobState, timeout: float = 10.0) -> None:
    """Ask a running runner to stop (SIGTERM) and wait until it has released the lock."""
    pid: int | None
    if _lock_held(state):
        try:
            pid = int((state.dir / PID_FILE).read_text())
        except (OSError, ValueError):
            return
    else:
        pid = _starting(state)  # PID_FILE may still name an earlier runner
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while runner_alive(state) and time.monotonic() < deadline:
        time.sleep(0.05)
