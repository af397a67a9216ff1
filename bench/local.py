"""3. The local backend against joblib.Parallel on the seed's workload.

superbatch's contract runs the worker as a process per point (the seed's worker.py reads
config.pickle/inputs.pickle in its working directory and writes outputs.pickle). The fair
baseline does the same with joblib.Parallel(n_jobs=2): one subprocess of the same worker
script per point, in a fresh directory with the same two files. For information, joblib
calling the computation in-process (no process per point, no files) is reported too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Row, Section, check, superbatch, write_job

PARALLEL = 2
TARGET_RATIO = 1.5
WORKER = REPO / "worker" / "worker.py"
GLOBALS = {"power": 3, "size": [10]}


def worker_env() -> dict:
    # The same interpreter for both sides: superbatch's runner puts sys.executable's directory
    # first on PATH, so `python` in the worker command is this interpreter.
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def run_point_as_process(seed: int, root: str) -> float:
    """One point the way the contract runs it: a directory, two files, the worker process."""
    import joblib

    wd = tempfile.mkdtemp(dir=root)
    try:
        joblib.dump(GLOBALS, os.path.join(wd, "config.pickle"))
        joblib.dump({"seed": seed}, os.path.join(wd, "inputs.pickle"))
        subprocess.run(
            [sys.executable, str(WORKER)],
            cwd=wd,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        return float(joblib.load(os.path.join(wd, "outputs.pickle")))
    finally:
        shutil.rmtree(wd, ignore_errors=True)


def compute_in_process(seed: int) -> float:
    import numpy as np

    np.random.seed(seed)
    return float(sum(np.power(np.random.uniform(size=GLOBALS["size"]), GLOBALS["power"])))


def joblib_processes(points: int, root: Path) -> tuple[float, float]:
    from joblib import Parallel, delayed

    start = time.perf_counter()
    out = Parallel(n_jobs=PARALLEL)(
        delayed(run_point_as_process)(s, str(root)) for s in range(points)
    )
    return time.perf_counter() - start, sum(out)


def joblib_in_process(points: int) -> tuple[float, float]:
    from joblib import Parallel, delayed

    start = time.perf_counter()
    out = Parallel(n_jobs=PARALLEL)(delayed(compute_in_process)(s) for s in range(points))
    return time.perf_counter() - start, sum(out)


def run(points: int, tmp: Path) -> Section:
    sec = Section(
        "local", f"Local backend vs joblib.Parallel ({points:,} points, {PARALLEL} at a time)"
    )
    tmp.mkdir(parents=True, exist_ok=True)
    scratch = tmp / "joblib"
    scratch.mkdir()
    base_s, base_sum = joblib_processes(points, scratch)

    spec = write_job(tmp / "sb", "localbench", points, points_per_task="auto")
    r = check(superbatch("run", spec, "--parallel", PARALLEL, "--json"), "superbatch run")
    import json

    result = json.loads(r.stdout)["result"]
    if abs(result - base_sum) > 1e-6 * max(1.0, abs(base_sum)):
        raise RuntimeError(f"superbatch's result {result} differs from joblib's {base_sum}")
    plan = check(superbatch("validate", spec, "--json"), "validate")
    tasks = json.loads(plan.stdout)["tasks"]  # validate uses the CPU count; run used --parallel

    inproc_s, inproc_sum = joblib_in_process(points)
    ratio = r.seconds / base_s
    sec.rows.append(
        Row(
            "local",
            f"superbatch run --parallel {PARALLEL} (points_per_task: auto)",
            r.seconds,
            "s",
            "joblib.Parallel(n_jobs=2), worker.py as a process per point",
            base_s,
            ratio,
            "x baseline time",
            f"<= {TARGET_RATIO}x",
            ratio <= TARGET_RATIO,
            f"{points / r.seconds:.1f} points/s vs {points / base_s:.1f} points/s",
        )
    )
    sec.rows.append(
        Row(
            "local",
            "joblib.Parallel(n_jobs=2), in-process function (info)",
            inproc_s,
            "s",
            "joblib.Parallel(n_jobs=2), worker.py as a process per point",
            base_s,
            inproc_s / base_s,
            "x baseline time",
            "",
            None,
            f"{points / inproc_s:,.0f} points/s",
        )
    )
    sec.notes.append(
        f"superbatch ran {points:,} points (about {tasks} tasks with `points_per_task: auto`; "
        f"each point is still its own worker process, as the contract requires) and printed "
        f"the same sum as joblib ({result:.6f})."
    )
    sec.notes.append(
        f"Per point, the worker process costs {base_s * PARALLEL / points * 1000:.0f} ms of a "
        f"core in the baseline (interpreter start, numpy and joblib imports); the in-process "
        f"loop shows what the work itself costs. Both process-per-point runs are bound by "
        f"the worker's start-up, not by the orchestration."
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return sec
