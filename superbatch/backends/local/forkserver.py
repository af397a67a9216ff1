"""``python -m superbatch.backends.local.forkserver FD EXECUTABLE PYTHON SCRIPT [ARGS...]``

A fork server: it imports what a Python worker script imports (``preload``) once, then forks
once per point, and each child becomes that point (``forkchild``) instead of a new
interpreter importing everything again.

A runner starts one server per slot (a task running at once), on first use, not one server
shared by the slots: a server then serves one point at a time, so it is a plain blocking loop
(receive a request, fork, report the pid, wait for the child, report its code) with nothing to
multiplex and no thread anywhere near a fork; a slot's server that dies costs only that slot's
point (the runner restarts it, or runs processes per point). The server is a separate
process, never the threaded runner forking itself, and it forks only while it has one thread:
if preloading started any, it declines and the runner runs a process per point. It runs in a
session of its own (terminal signals do not reach it; the runner and its watchdog end it) and
exits when the runner closes its socket.

Once preloaded it supervises its points (``reaper``): a child subreaper, it holds the task lock
while a point runs (the point closes its copy) and, when the point's process exits, kills
whatever it left running before it reports the exit. When the runner closes the socket or
sends SIGTERM mid-point, it ends the point's processes, then exits.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import sys
from collections.abc import Callable

from superbatch.backends.local.forkchild import become_point, reseed
from superbatch.backends.local.forkwire import (
    DECLINED,
    EXIT,
    PID,
    READY,
    ServerLost,
    receive_request,
    send_reply,
)
from superbatch.backends.local.preload import preload
from superbatch.backends.local.reaper import Ended, Watch, become_subreaper, end_descendants


def main(argv: list[str]) -> int:
    fd, executable, *command = argv
    conn = socket.socket(fileno=int(fd))
    script = command[1]
    home = os.path.dirname(os.path.realpath(script))
    sys.executable = executable
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = home  # what `python SCRIPT` puts first
    startup_env = dict(os.environ)
    output = _captured(lambda: preload(script, home))
    gc.freeze()  # the children's collections then leave the shared pages alone
    try:
        if not _single_threaded():
            send_reply(conn, DECLINED)
            return 0
        become_subreaper()
        watch = Watch()
        send_reply(conn, READY)
        while True:
            watch.idle(conn.fileno())
            request = receive_request(conn)
            if request is None:
                break
            cwd, env, fds = request
            reseed()  # here, not in the child: the child then need not copy numpy's pages
            server = os.getpid()
            pid = os.fork()
            if pid == 0:
                watch.forget()
                become_point(conn, cwd, env, fds, command, startup_env, output, server)
            out, err, lock = fds
            os.close(out)
            os.close(err)
            with contextlib.suppress(OSError):  # the child does it too; whoever is first
                os.setpgid(pid, pid)
            send_reply(conn, PID, pid)
            status = watch.wait(pid, conn.fileno())
            end_descendants()
            os.close(lock)  # only now: until the point's last process is gone
            send_reply(conn, EXIT, os.waitstatus_to_exitcode(status))
    except (OSError, ServerLost, Ended):
        pass  # the runner is gone, or ended the point
    finally:
        end_descendants()
    return 0


def _captured(run: Callable[[], None]) -> tuple[bytes, bytes]:
    """What ``run`` writes to descriptors 1 and 2: each point gets it, as if it had imported."""
    saved = [os.dup(1), os.dup(2)]
    files = [os.memfd_create("stdout"), os.memfd_create("stderr")]
    try:
        os.dup2(files[0], 1)
        os.dup2(files[1], 2)
        run()
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for target, fd in enumerate(saved, start=1):
            os.dup2(fd, target)
            os.close(fd)
    captured = []
    for fd in files:
        captured.append(os.pread(fd, os.fstat(fd).st_size, 0))
        os.close(fd)
    return captured[0], captured[1]


def _single_threaded() -> bool:
    """Whether forking is safe: one thread, once libraries that stop their thread pools for a
    fork (OpenBLAS, which numpy starts) have done so in a trial fork."""
    if _thread_count() > 1:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    return _thread_count() == 1


def _thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
