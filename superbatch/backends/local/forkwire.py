"""The fork server's protocol, on a Unix stream socket between a runner thread and its server.

runner -> server: a request per point, the point's directory and environment (marshalled,
length-prefixed) with its stdout, stderr and task-lock descriptors attached (SCM_RIGHTS, so
the forked point holds the very open files a process per point would inherit).

server -> runner: fixed-size replies, a kind and a number: READY (or DECLINED) once, after
preloading; then PID (the forked point) and EXIT (its return code, negative for a signal, as
``Popen.returncode``) for each request.
"""

from __future__ import annotations

import marshal
import socket
import struct

READY = b"R"
DECLINED = b"D"
PID = b"P"
EXIT = b"X"
REPLY = struct.Struct("!cq")
LENGTH = struct.Struct("!I")
REQUEST_FDS = 3  # stdout, stderr, the task lock


class ServerLost(Exception):
    """The fork server closed its socket or broke the protocol."""


def send_request(sock: socket.socket, cwd: str, env: dict[str, str], fds: list[int]) -> None:
    body = marshal.dumps((cwd, env))
    data = LENGTH.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], fds)
    sock.sendall(data[sent:])


def receive_request(sock: socket.socket) -> tuple[str, dict[str, str], list[int]] | None:
    """The next request, or None once the runner has closed its end."""
    head, fds, _, _ = socket.recv_fds(sock, LENGTH.size, REQUEST_FDS)
    if not head:
        return None
    head += _exactly(sock, LENGTH.size - len(head))
    cwd, env = marshal.loads(_exactly(sock, LENGTH.unpack(head)[0]))
    return cwd, env, fds


def send_reply(sock: socket.socket, kind: bytes, value: int = 0) -> None:
    sock.sendall(REPLY.pack(kind, value))


def receive_reply(sock: socket.socket) -> tuple[bytes, int]:
    return REPLY.unpack(_exactly(sock, REPLY.size))


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except OSError as exc:
            raise ServerLost(str(exc)) from None
        if not chunk:
            raise ServerLost("the fork server closed its socket")
        data += chunk
    return data
