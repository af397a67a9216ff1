"""The fork server's wire protocol and exit codes (superbatch/backends/local/forkwire.py,
forkchild.py)."""

import os
import socket
import threading

import pytest

from superbatch.backends.local.forkchild import _exit_code
from superbatch.backends.local.forkwire import (
    EXIT,
    ServerLost,
    receive_reply,
    receive_request,
    send_reply,
    send_request,
)


def test_a_request_carries_the_points_files_as_the_same_open_files(tmp_path):
    runner, server = socket.socketpair()
    files = [open(tmp_path / name, "wb") for name in ("out", "err", "lock")]  # noqa: SIM115
    env = {"BIG": "x" * 300_000, "SUPERBATCH_POINT": "7"}  # larger than a socket buffer
    try:
        sender = threading.Thread(
            target=send_request, args=(runner, "/wd", env, [f.fileno() for f in files])
        )
        sender.start()
        cwd, got_env, fds = receive_request(server)
        sender.join()
        assert (cwd, got_env) == ("/wd", env)
        os.write(fds[0], b"through the received descriptor\n")
        files[0].flush()
        assert (tmp_path / "out").read_bytes() == b"through the received descriptor\n"
        for fd in fds:
            os.close(fd)
    finally:
        for f in files:
            f.close()
        runner.close()
        assert receive_request(server) is None  # the runner is gone: the server ends
        server.close()


def test_replies_and_a_lost_server():
    runner, server = socket.socketpair()
    send_reply(server, EXIT, -9)
    assert receive_reply(runner) == (EXIT, -9)
    server.close()
    with pytest.raises(ServerLost):
        receive_reply(runner)
    runner.close()


@pytest.mark.parametrize(
    "code, status, printed",
    [(None, 0, ""), (0, 0, ""), (7, 7, ""), (256 + 3, 3, ""), (-1, 255, ""), (True, 1, "")]
    + [("a message", 1, "a message\n"), ([1], 1, "[1]\n")],
)
def test_system_exit_codes_are_cpythons(capsys, code, status, printed):
    assert _exit_code(code) == status
    assert capsys.readouterr().err == printed
