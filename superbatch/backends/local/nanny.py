"""A watchdog that kills a runner's workers when the runner dies, however it dies.

Workers run in process groups of their own (so that a wall-time kill takes their children
too), which also means they would outlive a runner killed with SIGKILL. The nanny is a tiny
process in a session of its own that reads ``+PGID`` / ``-PGID`` lines from the runner on its
stdin; when the pipe closes (the runner exited or was killed) it kills every group still
listed. Started with ``python -S``: it imports nothing beyond the standard library core.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import IO, cast

NANNY_CODE = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class Nanny:
    """The runner's side of the watchdog."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-c", NANNY_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self._stdin = cast(IO[str], self._proc.stdin)  # stdin=PIPE: never None

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                self._stdin.write(line + "\n")
                self._stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the nanny is gone; task locks still protect a restarted runner

    def watch(self, pgid: int) -> None:
        self._send(f"+{pgid}")

    def release(self, pgid: int) -> None:
        self._send(f"-{pgid}")

    def close(self) -> None:
        """Kill whatever is still listed, and let the nanny exit."""
        with self._lock:
            try:
                self._stdin.close()
            except OSError:
                pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
