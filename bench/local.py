"""3. The local backend against joblib.Parallel in-process, on the seed's workload.

superbatch runs the seed's worker (``worker/worker.py``, unmodified) over N seeds, two at a
time: ``superbatch run --parallel 2`` with ``points_per_task: auto``, the real CLI (it writes
every point's inputs, runs the points, collects and reduces). The worker is a Python script,
so each point is a process forked from a server that has imported numpy and joblib.

The baseline is the issue's: ``joblib.Parallel(n_jobs=2)`` calling the same computation
in-process, in a fresh interpreter each time (loky starts its workers, as in a user's
script), timed around the ``Parallel`` call. The two alternate, ``RUNS`` times each, and the
medians are compared; every superbatch result must equal the for-loop's sum exactly. For
information: the for-loop alone, and ``worker.fork: false`` (a process per point) on a few
points.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Row, Section, check, superbatch, write_job

PARALLEL = 2
RUNS = 3
TARGET_RATIO = 20.0
PROCESS_POINTS = 200  # `worker.fork: false`, for the cost of a point without the fork server
GLOBALS = {"power": 3, "size": [10]}
BASELINE = """\
import sys, time
import numpy as np
from joblib import Parallel, delayed


def point(seed):
    np.random.seed(seed)
    return sum(np.power(np.random.uniform(size={size}), {power}))


n = int(sys.argv[1])
start = time.perf_counter()
out = Parallel(n_jobs={parallel})(delayed(point)(s) for s in range(n))
print(time.perf_counter() - start, repr(float(sum(out))))
"""


# The floor under a fork per point: a process holding numpy and joblib (as a fork server
# does, one thread, thread pools limited as the runner limits them) forking a child per
# point that computes the point in memory and exits, PARALLEL such processes at once.
FORK_FLOOR = """\
import gc, os, sys, time
import numpy as np, joblib  # noqa: F401 - what the seed's worker imports


def point(seed):
    np.random.seed(seed)
    return sum(np.power(np.random.uniform(size={size}), {power}))


n = int(sys.argv[1])
gc.freeze()
start = time.perf_counter()
for seed in range(n):
    pid = os.fork()
    if pid == 0:
        point(seed)
        os._exit(0)
    os.waitpid(pid, 0)
print(time.perf_counter() - start)
"""
FORK_FLOOR_POINTS = 1000


def fork_floor(points: int) -> float:
    """Seconds per point of the fork floor, ``PARALLEL`` forking processes at once."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    script = FORK_FLOOR.format(**GLOBALS)
    share = points // PARALLEL
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(share)], stdout=subprocess.PIPE, env=env, text=True
        )
        for _ in range(PARALLEL)
    ]
    # Each times its own loop (not its start-up); they run side by side, so the slower
    # one's time is the wall time of all the points.
    looped = max(float(proc.communicate()[0]) for proc in procs)
    return looped / (share * PARALLEL)


def point(seed: int):
    import numpy as np

    np.random.seed(seed)
    return sum(np.power(np.random.uniform(size=GLOBALS["size"]), GLOBALS["power"]))


def for_loop(points: int) -> tuple[float, float]:
    start = time.perf_counter()
    total = sum(point(s) for s in range(points))
    return time.perf_counter() - start, float(total)


def joblib_in_process(points: int) -> tuple[float, float]:
    """The Parallel call's seconds and sum, in a fresh interpreter."""
    code = BASELINE.format(parallel=PARALLEL, **GLOBALS)
    done = subprocess.run(
        [sys.executable, "-c", code, str(points)],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    seconds, total = done.stdout.split()
    return float(seconds), float(total)


def superbatch_run(directory: Path, points: int, fork: bool = True) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (every process of the run) and the result of one run."""
    spec = write_job(directory, "localbench", points, points_per_task="auto")
    if not fork:
        text = spec.read_text().replace(
            "  directory: worker\n", "  directory: worker\n  fork: false\n"
        )
        spec.write_text(text)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = check(superbatch("run", spec, "--parallel", PARALLEL, "--json"), "superbatch run")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    shutil.rmtree(directory, ignore_errors=True)
    return run.seconds, cpu, json.loads(run.stdout)["result"]


def run(points: int, tmp: Path) -> Section:
    sec = Section(
        "local",
        f"Local backend vs joblib.Parallel in-process ({points:,} points, {PARALLEL} at a time)",
    )
    tmp.mkdir(parents=True, exist_ok=True)
    loop_s, expected = for_loop(points)
    ours, cpus, theirs = [], [], []
    for i in range(RUNS):
        seconds, _ = joblib_in_process(points)
        theirs.append(seconds)
        seconds, cpu, result = superbatch_run(tmp / f"sb{i}", points)
        if result != expected:
            raise RuntimeError(f"superbatch's result {result!r} is not the for-loop's {expected!r}")
        ours.append(seconds)
        cpus.append(cpu)
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    ratio = ours_s / theirs_s
    cpu_ms = statistics.median(cpus) / points * 1000
    sec.rows.append(
        Row(
            "local",
            f"superbatch run --parallel {PARALLEL}, forked points (median of {RUNS})",
            ours_s,
            "s",
            f"joblib.Parallel(n_jobs={PARALLEL}), in-process function (median of {RUNS})",
            theirs_s,
            ratio,
            "x baseline time",
            f"<= {TARGET_RATIO:g}x",
            ratio <= TARGET_RATIO,
            f"{points / ours_s:,.0f} points/s; {cpu_ms:.1f} ms of CPU per point, all processes",
        )
    )
    sec.rows.append(
        Row(
            "local",
            "for-loop, in-process (info)",
            loop_s,
            "s",
            f"joblib.Parallel(n_jobs={PARALLEL}), in-process function (median of {RUNS})",
            theirs_s,
            loop_s / theirs_s,
            "x baseline time",
        )
    )
    few = min(points, PROCESS_POINTS)
    proc_s, proc_cpu, proc_result = superbatch_run(tmp / "proc", few, fork=False)
    if proc_result != for_loop(few)[1]:
        raise RuntimeError(f"with worker.fork: false superbatch's result {proc_result!r} is wrong")
    per_fork, per_proc = ours_s / points * 1000, proc_s / few * 1000
    sec.rows.append(
        Row(
            "local",
            f"superbatch run, worker.fork: false, {few:,} points, per point (info)",
            per_proc,
            "ms",
            "forked points, per point",
            per_fork,
            per_proc / per_fork,
            "x baseline time",
            note=f"{proc_cpu / few * 1000:.0f} ms of CPU per point, all processes",
        )
    )
    floor_ms = fork_floor(FORK_FLOOR_POINTS) * 1000
    sec.rows.append(
        Row(
            "local",
            "fork floor, per point (info)",
            floor_ms,
            "ms",
            "forked points, per point",
            per_fork,
            floor_ms / per_fork,
            "x baseline time",
            note=f"a child forked per point by a process holding numpy and joblib, "
            f"{PARALLEL} at a time, {FORK_FLOOR_POINTS:,} points: what isolating every point "
            f"in a process costs "
            f"on this machine before any file is written: {floor_ms * points / 1000:.1f} s "
            f"for {points:,} points, {floor_ms * points / 1000 / theirs_s:.0f}x joblib's time",
        )
    )
    sec.notes.append(
        f"superbatch printed the for-loop's sum exactly ({expected!r}) in every run. Runs "
        f"(s), superbatch: {', '.join(f'{s:.1f}' for s in ours)}; joblib: "
        f"{', '.join(f'{s:.2f}' for s in theirs)}; the for-loop alone took {loop_s:.2f} s."
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return sec
