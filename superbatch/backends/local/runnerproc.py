"""A job's local runner seen from outside: is one running, what stopped it, start, stop."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

from superbatch.jobs.state import JobState

LOCK_FILE = "runner.lock"
PID_FILE = "runner.pid"
ERROR_FILE = "runner-error.json"
LOG_FILE = "runner.log"


def runner_alive(state: JobState) -> bool:
    """Whether a runner holds this job's lock right now."""
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


def read_runner_error(state: JobState) -> dict | None:
    try:
        data = json.loads((state.dir / ERROR_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("message"), str) else None


def start_detached(state: JobState, parallel: int | None = None) -> subprocess.Popen:
    """Start a runner for the job in the background (it outlives this process)."""
    cmd = [sys.executable, "-m", "superbatch.backends.local", str(state.dir)]
    if parallel:
        cmd += ["--parallel", str(parallel)]
    with (state.dir / LOG_FILE).open("ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )


def stop_runner(state: JobState, timeout: float = 10.0) -> None:
    """Ask a running runner to stop (SIGTERM) and wait until it has released the lock."""
    try:
        pid = int((state.dir / PID_FILE).read_text())
    except (OSError, ValueError):
        return
    if not runner_alive(state):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while runner_alive(state) and time.monotonic() < deadline:
        time.sleep(0.05)
