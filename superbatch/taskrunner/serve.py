"""A warm task runner: one process that runs task after task (the local backend gives each
of its slots one, for isolation ``point`` and ``task`` on Linux;
``superbatch/backends/local/warm.py`` is the other end).

Its standard input is a Unix socket (``SOCK_SEQPACKET``) to the runner. A task comes as one
message: its manifest (JSON, as ``main`` reads it) with three descriptors, the task's lock
and its ``stdout.txt`` and ``stderr.txt``. A message ``{"prepare": true, ...}`` (the job's
manifest without a task, no descriptors, unanswered) may come first: the process then
prepares while the runner is still writing the job's inputs. The task runs exactly as ``main`` runs it
(``TaskRunner.run``), in the task's directory with those files on descriptors 1 and 2; then
the task runner closes its copies of the three, answers one message ``{"status": N}`` (the
exit status ``main`` would have exited with; ``"last": true`` when it will run no other
task) and waits for the next task. It exits when the socket closes, as an interpreter exits
(``atexit`` handlers run).

What the points run is prepared once per process, by its first task: the worker's imports
preloaded (and what preloading printed, replayed by every point), the script compiled or the
function imported; every task of a job runs the same worker from the job's copy of its files.
Under isolation ``point`` points are forked, so no point's state reaches the next task; under
``task`` they run in this process one after another, as joblib's reused workers run calls:
module state, threads and ``atexit`` handlers carry over from task to task. A point cut short
by the wall time ends the process after its task's answer (``"last"``): it may have been
stopped anywhere. Between tasks nothing runs below the task runner and SIGTERM ends it at
once; a task that ends otherwise than by returning (told to stop, an error of the task
runner's own) ends the process as it ends ``main``, with the task's files still on
descriptors 1 and 2.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket

from superbatch.taskrunner.main import TaskRunner
from superbatch.taskrunner.points import Forked, Inline, Shell
from superbatch.taskrunner.preload import captured
from superbatch.taskrunner.script import flush

MAX_MESSAGE = 1 << 20  # a manifest is a few KB
FDS_PER_TASK = 3  # the task lock, stdout.txt, stderr.txt
PREPARED_BY = ("isolation", "argv", "executable", "function", "worker_dir", "command", "config")


def serve() -> int:
    channel = socket.socket(fileno=os.dup(0))
    _to_null(0)  # a worker reading its stdin gets EOF, as from a task runner's closed pipe
    WarmTaskRunner.private = (channel.fileno(),)
    while True:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # idle: nothing below to end first
        task = _receive(channel)
        if task is None:
            return 0
        manifest, fds = task
        if manifest.get("prepare"):
            WarmTaskRunner.prepare_ahead(manifest)
            continue
        lock, out, err = fds
        os.chdir(manifest["task_dir"])
        for fd, target in ((out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        WarmTaskRunner.replay_early_output()
        status = WarmTaskRunner(dict(manifest, lock_fd=lock)).run()
        flush()
        _to_null(1, 2)
        os.close(lock)  # the task is over: its lock is the runner's alone again
        last = WarmTaskRunner.spoiled()
        channel.send(json.dumps({"status": status, "last": last}).encode())
        if last:
            return 0


class WarmTaskRunner(TaskRunner):
    """A task runner whose preparation (``TaskRunner._prepare``) serves every task after the
    first, with the task's lock handed to the way its points run."""

    prepared = None  # (what it was prepared for, body, way)
    private: tuple = ()  # descriptors no point may keep (the channel to the runner)
    early_output = (b"", b"")  # what preparing ahead printed, for the first task's files

    @classmethod
    def prepare_ahead(cls, manifest: dict) -> None:
        """Prepare before the first task comes (the runner sends ``prepare`` while the job's
        inputs are still being written). What it prints goes to the first task's files, as
        if that task had prepared; if it fails, the first task prepares again and fails as
        it would have, with the error on its files."""
        runner = cls(dict(manifest, lock_fd=None))
        runner._take_charge()
        try:
            cls.early_output = captured(runner._prepare)
        except BaseException:  # noqa: BLE001 - met again by the first task, on its files
            cls.prepared = None
            cls.early_output = (b"", b"")
        flush()

    @classmethod
    def replay_early_output(cls) -> None:
        for fd, data in zip((1, 2), cls.early_output):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        cls.early_output = (b"", b"")

    def _prepare(self):
        key = json.dumps([self.m.get(name) for name in PREPARED_BY])
        if WarmTaskRunner.prepared is None:
            body, way = super()._prepare()
            WarmTaskRunner.prepared = (key, body, way)
        made_for, body, way = WarmTaskRunner.prepared
        if made_for != key:
            raise RuntimeError("a warm task runner runs the tasks of one job's worker only")
        if isinstance(way, (Forked, Shell)):
            way.watch.arm()
        if isinstance(way, Inline):
            way.arm()
        if isinstance(way, Forked):
            way.lock_fd = self.lock_fd
            way.private = self.private
        return body, way

    @staticmethod
    def spoiled() -> bool:
        """Whether a point ran out of time inside this process (no task may follow it)."""
        prepared = WarmTaskRunner.prepared
        return prepared is not None and getattr(prepared[2], "spoiled", False)


def _receive(channel: socket.socket):
    """The next task's manifest and descriptors; None once the runner closed the socket."""
    flags = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
    space = socket.CMSG_SPACE(FDS_PER_TASK * array.array("i").itemsize)
    data, ancillary, msg_flags, _ = channel.recvmsg(MAX_MESSAGE, space, flags)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data:
        return None
    manifest = json.loads(data.decode("utf-8")) if not msg_flags & socket.MSG_TRUNC else {}
    wanted = 0 if manifest.get("prepare") else FDS_PER_TASK
    if msg_flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != wanted:
        raise RuntimeError("a task message from the runner was cut short")
    return manifest, list(fds)


def _to_null(*targets: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for target in targets:
        os.dup2(null, target)
    os.close(null)
