"""The floors under the local benchmark's modes, and its baseline, each in fresh interpreters.

- joblib: ``joblib.Parallel(n_jobs=2)`` calling the point in-process, timed around the call.
- fork floor: a parent holding numpy, ``numpy.random`` and joblib (and having called the point
  once, so that whatever its first call loads is loaded) forks a child per point that
  computes it and exits; two such parents at once. ``files=True`` adds the runtime contract:
  the config written once, each point's inputs written before the fork, the child loading
  both and dumping its output, the parent loading the output back (all with joblib).
- process floor: ``python worker.py`` per point (the seed's worker, unmodified) in a
  directory holding its config and inputs, the output loaded back; two at a time.
- in-process floor: two fresh interpreters importing numpy and joblib and calling the point
  over their half, pickling each output: what any multi-process runner pays at least.
- script floor: two fresh interpreters running the seed's ``worker.py`` (unmodified) over
  their half, in-process, in a directory of their own: the config written once, each point's
  inputs written in place, the script executed with fresh globals, its output read back and
  removed. The least ``isolation: task`` can cost with this worker (its own joblib loads and
  dump of three files a point), start-up included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import REPO

PARALLEL = 2
GLOBALS = {"power": 3, "size": [10]}
POINT = """\
import numpy as np


def point(config, inputs):
    np.random.seed(inputs["seed"])
    return sum(np.power(np.random.uniform(size=config["size"]), config["power"]))
"""
CONFIG = f"config = {GLOBALS!r}\n"

JOBLIB = (
    POINT
    + CONFIG
    + """\
import sys, time
from joblib import Parallel, delayed

n = int(sys.argv[1])
start = time.perf_counter()
out = Parallel(n_jobs=__PARALLEL__)(delayed(point)(config, {"seed": s}) for s in range(n))
print(time.perf_counter() - start, repr(float(sum(out))))
"""
).replace("__PARALLEL__", str(PARALLEL))

FORK = (
    POINT
    + CONFIG
    + """\
import gc, os, sys, time
import joblib, numpy.random  # noqa: F401 - what the seed's worker and its first call load

first, count, files, wd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
cfg, inp, out = (os.path.join(wd, n) for n in ("config.pickle", "inputs.pickle", "out.pickle"))
point(config, {"seed": 0})
if files:
    joblib.dump(config, cfg)
gc.freeze()
total = 0.0
start = time.perf_counter()
for seed in range(first, first + count):
    if files:
        joblib.dump({"seed": seed}, inp)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if files:
                joblib.dump(point(joblib.load(cfg), joblib.load(inp)), out)
            else:
                point(config, {"seed": seed})
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if status:
        raise SystemExit(f"point {seed} failed: {status}")
    if files:
        total += joblib.load(out)
        os.unlink(out)
print(time.perf_counter() - start, repr(float(total)))
"""
)

IN_PROCESS = (
    POINT
    + CONFIG
    + """\
import pickle, sys

first, count = int(sys.argv[1]), int(sys.argv[2])
total = 0.0
for seed in range(first, first + count):
    value = point(config, {"seed": seed})
    pickle.dumps(value, 4)
    total += value
print(0, repr(float(total)))
"""
)

SCRIPT = """\
import os, pickle, sys, time
import joblib, numpy  # noqa: F401 - what the worker imports, as a warm task runner has

first, count, wd, worker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
os.chdir(wd)
sys.path.insert(0, os.path.dirname(worker))
joblib.dump(__GLOBALS__, "config.pickle")
with open(worker) as handle:
    code = compile(handle.read(), worker, "exec")
total = 0.0
for seed in range(first, first + count):
    data = pickle.dumps({"seed": seed}, 4)
    fd = os.open("inputs.pickle", os.O_WRONLY | os.O_CREAT)  # in place: no truncation
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
    os.close(fd)
    exec(code, {"__name__": "__main__", "__file__": worker})
    with open("outputs.pickle", "rb") as handle:
        total += pickle.loads(handle.read())
    os.unlink("outputs.pickle")
print(0, repr(float(total)))
""".replace("__GLOBALS__", repr(GLOBALS))


def _env() -> dict:
    # The task runner's limits: one thread per BLAS pool in a forked point.
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")


def halves(points: int) -> list[tuple[int, int]]:
    share = -(-points // PARALLEL)
    return [(i * share, min(share, points - i * share)) for i in range(PARALLEL)]


def joblib_parallel(points: int) -> tuple[float, float]:
    """Seconds of the ``Parallel`` call, and the sum of its outputs."""
    done = subprocess.run(
        [sys.executable, "-c", JOBLIB, str(points)],
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
        check=True,
    )
    seconds, total = done.stdout.split()
    return float(seconds), float(total)


def _two_at_once(script: str, points: int, extra=lambda i: []) -> tuple[float, list[float]]:
    """Wall seconds of both halves side by side (the slower one's loop), and each half's sum."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(first), str(count), *extra(i)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=_env(),
            text=True,
        )
        for i, (first, count) in enumerate(halves(points))
    ]
    outs = [proc.communicate(timeout=900)[0].split() for proc in procs]
    if any(proc.returncode for proc in procs):
        raise RuntimeError(f"a floor's process failed: {[p.returncode for p in procs]}")
    return max(float(o[0]) for o in outs), [float(o[1]) for o in outs]


def fork_floor(points: int, files: bool) -> tuple[float, list[float]]:
    """Seconds for ``points`` forked points (two parents), and each parent's sum (files only)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-fork-"))
    try:
        wds = [tmp / f"slot{i}" for i in range(PARALLEL)]
        for wd in wds:
            wd.mkdir()
        return _two_at_once(FORK, points, lambda i: ["1" if files else "0", str(wds[i])])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def in_process_floor(points: int) -> tuple[float, list[float]]:
    """Wall seconds of two fresh interpreters computing their halves (start-up included)."""
    start = time.perf_counter()
    _, sums = _two_at_once(IN_PROCESS, points)
    return time.perf_counter() - start, sums


def script_floor(points: int) -> tuple[float, list[float]]:
    """Wall seconds of two fresh interpreters running ``worker.py`` over their halves in
    process (start-up included), and each half's sum."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-script-"))
    worker = str(REPO / "worker" / "worker.py")
    try:
        wds = [tmp / f"slot{i}" for i in range(PARALLEL)]
        for wd in wds:
            wd.mkdir()
        start = time.perf_counter()
        _, sums = _two_at_once(SCRIPT, points, lambda i: [str(wds[i]), worker])
        return time.perf_counter() - start, sums
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def process_floor(points: int) -> tuple[float, float]:
    """``python worker.py`` per point, two at a time; seconds and the outputs' sum in order."""
    import joblib

    tmp = Path(tempfile.mkdtemp(prefix="bench-proc-"))
    worker = REPO / "worker" / "worker.py"

    def one(seed: int) -> float:
        wd = tmp / f"p{seed}"
        wd.mkdir()
        joblib.dump(GLOBALS, wd / "config.pickle")
        joblib.dump({"seed": seed}, wd / "inputs.pickle")
        subprocess.run([sys.executable, str(worker)], cwd=wd, env=_env(), check=True, timeout=120)
        value = joblib.load(wd / "outputs.pickle")
        shutil.rmtree(wd)
        return value

    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(PARALLEL) as pool:
            values = list(pool.map(one, range(points)))
        return time.perf_counter() - start, float(sum(values))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
