"""Warm task runners: one per slot (a runner thread), serving the slot's tasks one after
another (``superbatch/taskrunner/serve.py`` is the other end), so a task of one point costs
a fork, not an interpreter start and the worker's imports.

Used for isolation ``point`` on Linux, whose points are forked from the task runner (or, if
its preloading left a thread running, started as processes), and for ``task``, whose points
run inside it, so module state carries over from task to task as in joblib's reused workers
(docs/worker.md); ``process`` keeps a task runner per task (``points.TaskProcess``). A task
runner whose point ran out of time inside it says its answer is its ``last`` and exits; the
slot starts another for its next task.
A warm task runner is supervised as a task runner of its own is (a child subreaper, SIGTERM
when the runner's thread that started it ends); the runner keeps each task's lock and hands
the task runner a copy of it for the task only.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from typing import IO

from superbatch.taskrunner import boot

# How often a task runner's death is looked for while no answer comes: its socket ends at
# its death unless a process it left (a daemon that outlived it) still holds it.
POLL_S = 0.5
CLOSE_WAIT_S = 5.0


class WarmTaskRunner:
    """One warm task runner, a task at a time waited for as a ``subprocess.Popen``."""

    def __init__(self, env: dict[str, str], cwd):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                boot.serve_command(sys.executable),
                cwd=cwd,
                env=env,
                stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._channel: socket.socket | None = ours
        self.pid = self.holder = self._proc.pid

    def usable(self) -> bool:
        return self._channel is not None and self._proc.poll() is None

    def prepare(self, manifest: dict) -> None:
        """Have it prepare for the job's tasks now (``manifest`` without a task's fields):
        import the worker's modules while the runner writes the inputs."""
        payload = dict(manifest, prepare=True, parent=os.getpid())
        payload["task_dir"] = os.path.abspath(manifest["task_dir"])
        if self._channel is not None:
            try:
                self._channel.send(json.dumps(payload).encode())
            except OSError:
                self._hang_up()  # it died: the slot starts another for its first task

    def start(self, manifest: dict, out: IO, err: IO, lock: int) -> None:
        """Hand it a task: the manifest, the task's lock, stdout.txt and stderr.txt."""
        task_dir = os.path.abspath(manifest["task_dir"])
        payload = json.dumps(dict(manifest, parent=os.getpid(), task_dir=task_dir)).encode()
        if self._channel is None:
            return  # it hung up: wait() gives its exit code
        try:
            socket.send_fds(self._channel, [payload], [lock, out.fileno(), err.fileno()])
        except OSError:
            self._hang_up()  # it died: wait() gives its exit code

    def wait(self, timeout: float | None = None) -> int:
        """The task's exit status as ``main`` gives it, or the task runner's exit code if it
        died; raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._channel is not None:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(self._proc.args, timeout or 0.0)
            ready, _, _ = select.select([self._channel], [], [], left)
            if ready:
                answer = self._answer(self._channel)
                if answer is not None:
                    return answer
            elif self._proc.poll() is not None:
                self._hang_up()
        return self._proc.wait()

    def _answer(self, channel: socket.socket) -> int | None:
        try:
            data = channel.recv(4096)
            if not data:
                self._hang_up()
                return None
            answer = json.loads(data)
            status = int(answer["status"])
        except (OSError, ValueError, KeyError, TypeError):
            self._hang_up()
            return None
        if answer.get("last"):
            self._hang_up()  # it exits now: the slot starts another for the next task
        return status

    def _hang_up(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def end(self) -> None:
        """Ask it to end its task (it kills all the point's processes) and exit."""
        with contextlib.suppress(OSError):
            self._proc.terminate()

    def close(self) -> None:
        """Let it exit (it does when its socket closes); killed if it does not."""
        self._hang_up()
        try:
            self._proc.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class Slot:
    """A runner thread's warm task runner: started when first needed, and again after the
    last one died or was ended (a task it ran past the wall time's grace, a cancel)."""

    def __init__(self, env: dict[str, str], cwd):
        self.env = env
        self.cwd = cwd
        self._runner: WarmTaskRunner | None = None

    def prepare(self, manifest: dict) -> None:
        """Start its task runner now and have it prepare (``WarmTaskRunner.prepare``)."""
        if self._runner is None:
            self._runner = WarmTaskRunner(self.env, self.cwd)
            self._runner.prepare(manifest)

    def start(self, manifest: dict, out: IO, err: IO, lock: int) -> WarmTaskRunner:
        if self._runner is None or not self._runner.usable():
            self.close()
            self._runner = WarmTaskRunner(self.env, self.cwd)
        self._runner.start(manifest, out, err, lock)
        return self._runner

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None


class Slots:
    """Slots started before the run needs them (``Runner.prepare``), taken by its threads;
    a thread that finds none left starts its own."""

    def __init__(self, env: dict[str, str], cwd):
        self.env = env
        self.cwd = cwd
        self._ready: list[Slot] = []
        self._lock = threading.Lock()

    def prepare(self, manifest: dict, count: int) -> None:
        with self._lock:
            while len(self._ready) < count:
                slot = Slot(self.env, self.cwd)
                slot.prepare(manifest)
                self._ready.append(slot)

    def take(self) -> Slot:
        with self._lock:
            return self._ready.pop() if self._ready else Slot(self.env, self.cwd)

    def close(self) -> None:
        """End the task runners of the slots no thread took."""
        with self._lock:
            ready, self._ready = self._ready, []
        for slot in ready:
            slot.close()
