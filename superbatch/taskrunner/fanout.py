"""A task's points run several at a time, one per CPU of the task's share of its node.

On Azure a task holds one of its node's task slots, and its VM is paid for whole: a task of
500 points on a 2-vCPU node with one slot used to leave a vCPU idle. With ``slots_per_node``
in the manifest, the task runner (once prepared: the worker's imports done) forks one sharer
per CPU of its share (the node's CPUs over its task slots). Each sharer claims the task's
next point from a pipe filled once (8 bytes a point, read atomically), runs it exactly as the
task runner alone would (its own working directory under ``wd``), and at the end hands back
its points' ``points.jsonl`` lines and the outputs it holds, in a file the task runner reads
and removes. Only points that each run in their own process (isolation ``point`` and
``process``) are shared out: nothing then tells the points apart from one at a time but
their directories and the interleaving of their output. After a failing point a sharer
empties the pipe, so the others stop after the point they run; the task fails with the
failing point of lowest number. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import marshal
import mmap
import os
import signal
import struct
import time

from superbatch.taskrunner import supervise
from superbatch.taskrunner.preload import single_threaded
from superbatch.taskrunner.script import flush

CLAIM = struct.Struct("=q")  # a point number, as the pipe carries it
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; fcntl names it from 3.10
HANDBACK = "share{}.marshal"  # a sharer's lines and outputs, in the task directory
CPU_MAX = "/sys/fs/cgroup/cpu.max"  # cgroup v2: "QUOTA PERIOD", or "max PERIOD"
CFS_FILES = ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def points_at_once(slots_per_node: int | None, count: int, way) -> int:
    """How many of a task's ``count`` points run at once: its share of the CPUs this
    process may use. 1 without ``slots_per_node``, where forking is not safe, or where the
    points share a process by design (isolation ``task``, a function's: which points follow
    which in a process is part of what they see)."""
    if not slots_per_node or count < 2 or not getattr(way, "own_process", False):
        return 1
    if not supervise.SUPPORTED or not single_threaded():
        return 1
    return max(1, min(count, usable_cpus() // slots_per_node))


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity, capped by a cgroup's CPU quota (a
    container run with ``--cpus``: its processes see every CPU of the machine)."""
    if hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - Linux has it
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    return cpus if quota is None else max(1, min(cpus, quota))


def cpu_quota(v2: str = CPU_MAX, v1: tuple[str, str] = CFS_FILES) -> int | None:
    """The cgroup's CPU quota in whole CPUs (rounded up: 1.5 lets two points share it), or
    None when there is none (cgroup v2's ``cpu.max``, else v1's CFS quota and period)."""
    try:
        words = _read(v2).split()
    except OSError:
        try:
            words = [_read(v1[0]), _read(v1[1])]
        except OSError:
            return None
    try:
        quota, period = int(words[0]), int(words[1])
    except (IndexError, ValueError):  # "max 100000", or not what a cgroup writes
        return None
    if quota <= 0 or period <= 0:  # v1 writes -1 for none
        return None
    return -(-quota // period)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return handle.read().strip()


class Claims:
    """The task's points in a pipe: each read of ``CLAIM.size`` bytes takes the next one."""

    def __init__(self, first: int, count: int):
        self.read_fd, write_fd = os.pipe()
        try:
            data = b"".join(CLAIM.pack(p) for p in range(first, first + count))
            if len(data) > 65536:  # a pipe holds 64 KiB unless asked for more
                fcntl.fcntl(write_fd, F_SETPIPE_SZ, len(data))
            os.set_blocking(write_fd, False)  # never wait: the whole list goes in at once
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        except OSError:
            os.close(self.read_fd)
            raise
        finally:
            os.close(write_fd)

    def __iter__(self):
        while True:
            raw = os.read(self.read_fd, CLAIM.size)
            if len(raw) != CLAIM.size:
                return
            yield CLAIM.unpack(raw)[0]

    def drain(self) -> None:
        """Take every point left: the other sharers then stop after their current point."""
        while os.read(self.read_fd, 1 << 16):
            pass

    def close(self) -> None:
        os.close(self.read_fd)


def run_shared(runner, at_once: int, inputs: dict, body, way, deadline, lines: list) -> dict | None:
    """Run the task's points ``at_once`` at a time; append their lines to ``lines`` in point
    order. The failed point's line (the lowest failing point), or None. Raises Ended when the
    task runner is told to stop, after the sharers stopped and handed back their lines."""
    first, count = runner.m["points"]
    try:
        claims = Claims(first, count)
    except OSError:  # more points than a pipe may hold: one at a time
        return runner.run_points(range(first, first + count), inputs, body, way, deadline, lines)
    for index in range(at_once):  # left by an earlier run of the task, cut short
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(runner.task_dir, HANDBACK.format(index)))
    running = mmap.mmap(-1, CLAIM.size * at_once)  # each sharer's current point (shared)
    running.write(CLAIM.pack(-1) * at_once)
    watch = supervise.Watch()
    me = os.getpid()
    sharers: dict[int, int] = {}
    flush()  # what this process buffered is written once, not once per sharer
    try:
        for index in range(at_once):
            pid = os.fork()
            if pid == 0:
                _share(runner, index, me, watch, claims, running, inputs, body, way, deadline)
            sharers[pid] = index
    finally:
        claims.close()
    try:
        statuses = watch.wait_all(sharers)
    except supervise.Ended:
        for pid in sharers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        watch.ended = False
        statuses = watch.wait_all(sharers, time.monotonic() + supervise.GIVE_UP_S)
        _merge(runner, sharers, statuses, running, lines)
        raise
    return _merge(runner, sharers, statuses, running, lines)


def _share(runner, index, parent, watch, claims, running, inputs, body, way, deadline) -> None:
    """A sharer: run the points it claims; never returns."""
    code = 1
    try:
        watch.forget()
        supervise.die_with_parent(parent)
        supervise.become_subreaper()  # a point's orphans are this sharer's to end
        way.in_sharer()
        runner.workdir = runner.workdir.sharer(index)
        mine: list = []
        failed = None
        try:
            failed = runner.run_points(
                _noting(claims, running, index), inputs, body, way, deadline, mine
            )
        except supervise.Ended:
            supervise.end_descendants()
        if failed is not None:
            claims.drain()
        path = os.path.join(runner.task_dir, HANDBACK.format(index))
        with open(path, "wb") as handle:
            marshal.dump((mine, runner.staged.held), handle)
        runner.workdir.release()
        code = 0
    except BaseException:  # noqa: BLE001 - a sharer must never return into the task runner
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    finally:
        flush()
        os._exit(code)


def _noting(claims: Claims, running: mmap.mmap, index: int):
    """The claimed points, each noted as this sharer's current one first."""
    for point in claims:
        CLAIM.pack_into(running, index * CLAIM.size, point)
        yield point


def _merge(runner, sharers: dict, statuses: dict, running: mmap.mmap, lines: list) -> dict | None:
    """The sharers' lines (in point order) and outputs taken in; the lowest failing point's
    line, one made up for a sharer that ended without handing back."""
    first = runner.m["points"][0]
    merged, failed = [], []
    for pid, index in sharers.items():
        path = os.path.join(runner.task_dir, HANDBACK.format(index))
        try:
            with open(path, "rb") as handle:
                mine, held = marshal.load(handle)
            os.remove(path)
        except (OSError, EOFError, ValueError, TypeError):
            point = CLAIM.unpack_from(running, index * CLAIM.size)[0]
            point = first if point < 0 else point  # it ended before claiming one
            code = supervise.exit_code(statuses[pid]) if pid in statuses else None
            failed.append(_lost(point, code))
            continue
        for point, data in held.items():
            runner.staged.keep_bytes(point, data)
        merged.extend(mine)
    merged.sort(key=_point_of)
    lines.extend(merged)
    failed.extend(json.loads(line) for line in merged if '"code":' in line)
    if not failed:
        return None
    return min(failed, key=lambda line: line["point"])


def _point_of(line: str) -> int:
    return int(line[9 : line.index(",")])  # '{"point":N,...': both ways lines are written


def _lost(point: int, code: int | None) -> dict:
    return {
        "point": point,
        "exit_code": None,
        "wall_s": 0.0,
        "code": "Killed",
        "message": f"the process running point {point} ended unexpectedly"
        + ("" if code is None else f" (status {code})"),
    }
