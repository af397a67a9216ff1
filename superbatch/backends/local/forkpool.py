"""The runner's side of the fork servers (``forkserver``): started on first use, one per task
running at once, restarted when one dies; after a few failures (or if a server declines to
fork) the runner goes on with a process per point."""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

from superbatch.backends.local.forkwire import (
    DECLINED,
    EXIT,
    PID,
    READY,
    ServerLost,
    receive_reply,
    send_request,
)
from superbatch.backends.local.nanny import Nanny, kill_group
from superbatch.backends.local.pycommand import PythonCommand

MAX_FAILURES = 3
STOP_WAIT_S = 10.0


class ForkServer:
    """One fork server process and the runner's end of its socket."""

    def __init__(self, command: PythonCommand, env: dict[str, str]):
        self.conn, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "superbatch.backends.local.forkserver",
                    str(theirs.fileno()),
                    command.executable,
                    *command.argv,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            self.conn.close()
            raise
        finally:
            theirs.close()
        self.ready = False

    def wait_ready(self, deadline: float | None) -> bool:
        """Whether the server forks (it has preloaded); it may decline instead."""
        if not self.ready:
            kind, _ = self.reply(deadline)
            if kind == DECLINED:
                return False
            _expect(kind, READY)
            self.ready = True
        return True

    def launch(self, cwd: str, env: dict[str, str], out: IO, err: IO, lock: int) -> ForkedPoint:
        try:
            send_request(self.conn, cwd, env, [out.fileno(), err.fileno(), lock])
        except OSError as exc:
            raise ServerLost(str(exc)) from None
        kind, pid = self.reply(None)
        _expect(kind, PID)
        return ForkedPoint(self, pid)

    def reply(self, deadline: float | None) -> tuple[bytes, int]:
        """The next reply; ``subprocess.TimeoutExpired`` if none came before ``deadline``."""
        if deadline is not None:
            poll = select.poll()
            try:
                poll.register(self.conn, select.POLLIN)
            except ValueError:  # closed: the pool stopped this server
                raise ServerLost("the fork server was stopped") from None
            wait_ms = max(0.0, deadline - time.monotonic()) * 1000
            if not poll.poll(wait_ms):
                raise subprocess.TimeoutExpired(self.proc.args, wait_ms / 1000)
        return receive_reply(self.conn)

    def stop(self) -> None:
        """Close the socket: the server ends its point's processes and exits (or is killed)."""
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)  # also wakes a thread waiting for a reply
        try:
            self.proc.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.proc.wait()
        self.conn.close()


class ForkedPoint:
    """A point forked by a server, waited for as a ``subprocess.Popen``.

    The server supervises it: once the point's process has exited, the server kills what it
    left running before it replies, so ending the point is killing its process group.
    """

    def __init__(self, server: ForkServer, pid: int):
        self.server = server
        self.pid = pid
        self.holder = server.proc.pid  # it holds the task lock while the point runs
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        kind, code = self.server.reply(deadline)
        _expect(kind, EXIT)
        self.returncode = code
        return code

    def end(self) -> None:
        if self.returncode is None:
            kill_group(self.pid)


def _expect(kind: bytes, wanted: bytes) -> None:
    if kind != wanted:
        raise ServerLost(f"the fork server replied {kind!r}, not {wanted!r}")


class ForkPool:
    """Fork servers for a runner's slots."""

    def __init__(self, command: PythonCommand, env: dict[str, str], nanny: Nanny | None):
        self.command = command
        self.env = env
        self._nanny = nanny
        self._lock = threading.Lock()
        self._idle: list[ForkServer] = []
        self._servers: set[ForkServer] = set()
        self._failures = 0
        self._closed = False

    @property
    def forking(self) -> bool:
        """False once the runner has given up on forking."""
        return not self._closed and self._failures < MAX_FAILURES

    @contextlib.contextmanager
    def lease(self, deadline: float | None) -> Iterator[ForkServer | None]:
        """A server ready to fork one point, or None: run the point as a process of its own.

        Raises ``subprocess.TimeoutExpired`` if no server is ready before ``deadline``; a
        server that fails is stopped and counted, one that declines ends the forking.
        """
        server = self._take()
        try:
            if server is not None and not server.wait_ready(deadline):
                self._drop(server, MAX_FAILURES)
                server = None
            if server is not None and self._nanny:
                # Preloaded: the server now ends itself and its point when the runner goes
                # (its socket closes); a SIGKILL from the nanny would orphan the point's
                # processes instead.
                self._nanny.release(server.proc.pid)
            yield server
        except BaseException as exc:
            if server is not None:
                lost = isinstance(exc, (ServerLost, subprocess.TimeoutExpired))
                self._drop(server, 1 if lost else 0)
            raise
        if server is not None:
            with self._lock:
                if not self._closed:
                    self._idle.append(server)
                    return
            self._drop(server, 0)

    def close(self) -> None:
        """Stop every server (running points end with theirs: the runner kills their groups)."""
        with self._lock:
            self._closed = True
            servers = list(self._servers)
        for server in servers:
            self._drop(server, 0)

    def _take(self) -> ForkServer | None:
        with self._lock:
            if not self.forking:
                return None
            if self._idle:
                return self._idle.pop()
        server = ForkServer(self.command, self.env)
        with self._lock:
            self._servers.add(server)
        if self._nanny:
            self._nanny.watch(server.proc.pid)
        return server

    def _drop(self, server: ForkServer, failures: int) -> None:
        with self._lock:
            self._failures += failures
            if server not in self._servers:
                return
            self._servers.discard(server)
            with contextlib.suppress(ValueError):
                self._idle.remove(server)
        server.stop()
        if self._nanny:
            self._nanny.release(server.proc.pid)
