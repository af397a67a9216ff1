"""3. The local backend's ways of running a point, on the seed's workload, against their floors
and ``joblib.Parallel(n_jobs=2)`` in-process.

Every mode runs the seed's computation over N seeds, two at a time, and its result must equal
the for-loop's sum exactly:

- ``superbatch run --parallel 2`` (the real CLI: it writes every point's inputs, runs the
  points, collects and reduces; ``points_per_task: auto``) with ``worker.isolation`` ``point``
  (a child forked per point from the task runner), ``task`` (every point of a task inside the
  task runner) and ``process`` (``/bin/sh`` and a fresh interpreter per point, on
  ``PROCESS_POINTS`` points), the seed's ``worker.py`` unmodified;
- ``worker.function: seedfn:point`` (the loop body as a function, ``isolation: task``);
- ``superbatch.map(point, superbatch.grid(seed=range(N)), parallel=2)`` in a fresh
  interpreter, timed around the call as joblib's ``Parallel`` call is.

The floors and the baseline are in ``bench/localfloors.py``; the fork floors are measured
before and after the modes (the lower counts). The modes and joblib take turns
(``bench/harness.py``), ``RUNS`` times each; the table gives medians in ms per point.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import harness
from bench.common import Row, Section, check, superbatch, write_job
from bench.localfloors import (
    GLOBALS,
    PARALLEL,
    POINT,
    fork_floor,
    halves,
    in_process_floor,
    joblib_parallel,
    process_floor,
    script_floor,
)
from superbatch.plan.chunks import auto_points_per_task

RUNS = 3  # each side; 2 below QUICK_BELOW points
QUICK_BELOW = 1000
PROCESS_POINTS = 200  # isolation `process`: a fresh interpreter per point
TARGET_POINT = 1.25  # x the fork+files floor
TARGET_TASK = 4.0  # x joblib
TARGET_FUNCTION = 2.0  # x joblib
TARGET_MAP = 2.0  # x joblib
TARGET_FILES_PER_POINT = 1.0  # beyond its output, while the job runs
TARGET_LEFT_MB = 5.0  # per 10,000 finished points, besides their outputs
MAP_POINTS = 10_000  # issue 27: superbatch.map of 10,000 points (auto chunking)
CHUNKED_TASKS = 8 * PARALLEL  # the info row: the points in this many tasks
MAP = (
    (
        POINT
        + """\
import sys, time
import superbatch

n, state = int(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
out = superbatch.map(point, superbatch.grid(seed=range(n)), globals=__GLOBALS__,
                     backend="local", state_dir=state, parallel=__PARALLEL__)
print(time.perf_counter() - start, repr(float(sum(out))))
"""
    )
    .replace("__GLOBALS__", repr(GLOBALS))
    .replace("__PARALLEL__", str(PARALLEL))
)
WORKER_EDITS = {
    "point": "  isolation: point\n",
    "task": "  isolation: task\n",
    "process": "  isolation: process\n",
}


def for_loop(first: int, count: int) -> tuple[float, float]:
    import numpy as np

    start = time.perf_counter()
    total = 0
    for seed in range(first, first + count):
        np.random.seed(seed)
        total += sum(np.power(np.random.uniform(size=GLOBALS["size"]), GLOBALS["power"]))
    return time.perf_counter() - start, float(total)


def job_spec(directory: Path, mode: str, points: int, per_task) -> Path:
    spec = write_job(directory, f"local-{mode}", points, points_per_task=per_task)
    text = spec.read_text()
    if mode == "function":
        (directory / "worker" / "seedfn.py").write_text(POINT)
        text = text.replace(
            "  command: python {worker_dir}/worker.py\n",
            "  function: seedfn:point\n  isolation: task\n",
        )
    else:
        text = text.replace("  directory: worker\n", "  directory: worker\n" + WORKER_EDITS[mode])
    spec.write_text(text)
    return spec


class DiskWatch:
    """Peak files besides outputs in a state directory while a job runs (sampled each
    ``every`` s), and what the finished job leaves there."""

    def __init__(self, root: Path, every: float = 1.0):
        self.root, self.every, self.peak = root, every, 0
        self._stop = threading.Event()

    def __enter__(self) -> DiskWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, self.count()[0])

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def count(self) -> tuple[int, int, int]:
        """Files besides outputs, their bytes on disk and their apparent bytes."""
        files = used = size = 0
        for dirpath, _, names in os.walk(self.root):
            if os.path.basename(dirpath) in ("outputs", "staged"):
                continue
            for name in names:
                try:
                    st = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    continue
                files, used, size = files + 1, used + st.st_blocks * 512, size + st.st_size
        return files, used, size


def cli_side(tmp: Path, mode: str, points: int, expected: float, per_task="auto", disk=None):
    def side(r: int) -> harness.Sample:
        directory = tmp / f"{mode}-{per_task}-{r}"
        spec = job_spec(directory, mode, points, per_task)
        watch = DiskWatch(directory / ".superbatch") if disk is not None and r == 0 else None
        if watch:
            with watch:
                run = superbatch("run", spec, "--parallel", PARALLEL, "--json", cwd=directory)
            disk.update(zip(("files", "used", "size"), watch.count()), peak=watch.peak)
        else:
            run = superbatch("run", spec, "--parallel", PARALLEL, "--json", cwd=directory)
        check(run, f"superbatch run ({mode})")
        result = json.loads(run.stdout)["result"]
        if result != expected:
            raise RuntimeError(f"{mode}: superbatch's result {result!r} is not {expected!r}")
        shutil.rmtree(directory, ignore_errors=True)
        return harness.Sample(points, run.seconds)

    return side


def map_side(tmp: Path, points: int, expected: float):
    def side(r: int) -> harness.Sample:
        state = tmp / f"map-{r}"
        done = subprocess.run(
            [sys.executable, "-c", MAP, str(points), str(state)],
            capture_output=True,
            text=True,
            timeout=3600,
            stdin=subprocess.DEVNULL,
            cwd=tmp,
        )
        if done.returncode:
            raise RuntimeError(f"superbatch.map failed:\n{done.stderr[-3000:]}")
        seconds, total = done.stdout.split()
        if float(total) != expected:
            raise RuntimeError(f"superbatch.map's sum {total} is not {expected!r}")
        shutil.rmtree(state, ignore_errors=True)
        return harness.Sample(points, float(seconds))

    return side


def joblib_side(points: int, expected: float):
    def side(r: int) -> harness.Sample:
        seconds, total = joblib_parallel(points)
        if total != expected:
            raise RuntimeError(f"joblib's sum {total!r} is not the for-loop's {expected!r}")
        return harness.Sample(points, seconds)

    return side


def ms(samples: list[harness.Sample]) -> float:
    return harness.Stats([s.seconds / s.count * 1000 for s in samples]).median


def spread(samples: list[harness.Sample]) -> str:
    each = ", ".join(f"{s.seconds:.2f}" for s in samples)
    return f"runs: {each} s for {samples[0].count:,} points"


def measured_floor(points: int, files: bool, partials: list[float]) -> float:
    seconds, sums = fork_floor(points, files)
    if files and sums != partials:
        raise RuntimeError(f"the fork+files floor summed {sums}, the for-loop {partials}")
    return seconds / points * 1000


def run(points: int, tmp: Path, log=print) -> Section:
    sec = Section(
        "local",
        f"Local backend: every way of running a point ({points:,} points, {PARALLEL} at a time)",
    )
    tmp.mkdir(parents=True, exist_ok=True)
    loop_s, expected = for_loop(0, points)
    partials = [for_loop(first, count)[1] for first, count in halves(points)]
    log("  floors (first)")
    files_floor = [measured_floor(points, True, partials)]
    bare_floor = [measured_floor(points, False, partials)]
    chunked = math.ceil(points / CHUNKED_TASKS)
    disk: dict = {}
    sides = {
        "joblib": joblib_side(points, expected),
        "point": cli_side(tmp, "point", points, expected, disk=disk),
        f"point, {CHUNKED_TASKS} tasks": cli_side(tmp, "point", points, expected, chunked),
        "task": cli_side(tmp, "task", points, expected),
        "function": cli_side(tmp, "function", points, expected),
    }
    map_n = min(points, MAP_POINTS)
    map_expected = for_loop(0, map_n)[1]
    sides["map"] = map_side(tmp, map_n, map_expected)
    if map_n != points:
        sides["joblib, map's size"] = joblib_side(map_n, map_expected)
    runs = RUNS if points >= QUICK_BELOW else 2
    samples, load = harness.interleave_many(sides, runs, log)
    log("  floors (second), isolation process")
    files_floor.append(measured_floor(points, True, partials))
    bare_floor.append(measured_floor(points, False, partials))
    proc_n = min(points, PROCESS_POINTS)
    proc_expected = for_loop(0, proc_n)[1]
    proc_samples = [cli_side(tmp, "process", proc_n, proc_expected)(0)]
    proc_floor_s, proc_floor_sum = process_floor(proc_n)
    if proc_floor_sum != proc_expected:
        raise RuntimeError(f"the process floor summed {proc_floor_sum!r}")
    inproc_s, inproc_sums = in_process_floor(points)
    if inproc_sums != partials:
        raise RuntimeError(f"the in-process floor summed {inproc_sums}")
    script_s, script_sums = script_floor(points)
    if script_sums != partials:
        raise RuntimeError(f"the script floor summed {script_sums}")

    jl = ms(samples["joblib"])
    base = f"joblib.Parallel(n_jobs={PARALLEL}), in-process (median of {runs})"
    floor_files = min(files_floor)
    floor_name = "fork+files floor (the lower of 2)"
    inproc = inproc_s / points * 1000
    inproc_name = "in-process floor: 2 fresh interpreters"
    script = script_s / points * 1000
    script_name = "script floor: worker.py in-process, 2 fresh interpreters"

    def add(case, value, name, baseline, target="", passed=None, note=""):
        sec.rows.append(
            Row(
                "local",
                case,
                value,
                "ms",
                name,
                baseline,
                value / baseline,
                "x baseline time",
                target,
                passed,
                note,
            )
        )

    tasks = math.ceil(points / auto_points_per_task(points, PARALLEL))
    for mode, label, floor, fname, target in (
        ("point", "isolation point, per point", floor_files, floor_name, TARGET_POINT),
        (
            f"point, {CHUNKED_TASKS} tasks",
            f"isolation point, {CHUNKED_TASKS} tasks (info)",
            floor_files,
            floor_name,
            None,
        ),
        ("task", "isolation task, per point", script, script_name, TARGET_TASK),
        (
            "function",
            "worker.function (isolation task), per point",
            inproc,
            inproc_name,
            TARGET_FUNCTION,
        ),
        ("map", "superbatch.map, per point", inproc, inproc_name, TARGET_MAP),
    ):
        value = ms(samples[mode])
        note = spread(samples[mode])
        if mode == "map" and map_n != points:
            map_base = f"joblib.Parallel(n_jobs={PARALLEL}) on {map_n:,} points (median of {runs})"
            jl_map = ms(samples["joblib, map's size"])
            add(
                f"{label}, {map_n:,} points",
                value,
                map_base,
                jl_map,
                f"<= {target:g}x",
                value / jl_map <= target,
                note,
            )
            add(f"{label}, {map_n:,} points (info)", value, fname, floor)
            continue
        if mode == "point":
            add(label, value, fname, floor, f"<= {target:g}x", value / floor <= target, note)
            add("isolation point, per point (info)", value, base, jl)
            continue
        if target is None:
            add(label, value, fname, floor, note=note)
            continue
        add(label, value, base, jl, f"<= {target:g}x", value / jl <= target, note)
        add(f"{label} (info)", value, fname, floor)
    proc = ms(proc_samples)
    add(
        f"isolation process, {proc_n:,} points, per point (info)",
        proc,
        f"`python worker.py` per point, {PARALLEL} at a time, files included",
        proc_floor_s / proc_n * 1000,
        note=spread(proc_samples),
    )
    add(f"isolation process, {proc_n:,} points, per point (info)", proc, base, jl)
    add(
        "fork+files floor, per point (info)",
        floor_files,
        base,
        jl,
        note=f"measured twice: {', '.join(f'{v:.2f}' for v in files_floor)} ms per point; a "
        f"child forked per point by a parent holding numpy, numpy.random and joblib (its "
        f"first call made), config written once, inputs written, loaded, output dumped and "
        f"loaded back with joblib, {PARALLEL} parents at once",
    )
    add(
        "fork floor, per point (info)",
        min(bare_floor),
        base,
        jl,
        note=f"measured twice: {', '.join(f'{v:.2f}' for v in bare_floor)} ms per point; the "
        "same forks, no files: the least isolating every point in a process costs here",
    )
    add(
        f"{inproc_name}, per point (info)",
        inproc,
        base,
        jl,
        note="each imports numpy and joblib and computes its half, start-up included",
    )
    add(
        f"{script_name}, per point (info)",
        script,
        base,
        jl,
        note="the seed's worker.py executed per point in process with its files (inputs "
        "written in place, output read back), start-up included: the least isolation task "
        f"costs with this worker; above {TARGET_TASK:g}x, that target is out of reach for "
        "it (worker.function runs the same loop body without files)",
    )
    add("for-loop, in-process, per point (info)", loop_s / points * 1000, base, jl)
    files_per_point = disk["peak"] / points
    add_disk(sec, points, disk, files_per_point, tasks)
    sec.notes.append(
        f"Every mode's result equalled the for-loop's sum exactly ({expected!r}). Load "
        f"average during the modes {load.median:.2f} (max {load.high:.2f})."
    )
    shutil.rmtree(tmp, ignore_errors=True)
    return sec


def add_disk(sec: Section, points: int, disk: dict, files_per_point: float, tasks: int) -> None:
    limit_mb = TARGET_LEFT_MB * points / 10_000
    left_mb = disk["used"] / 1024 / 1024
    sec.rows.append(
        Row(
            "local",
            "files besides outputs while running, per point (isolation point)",
            files_per_point,
            "files",
            "",
            None,
            None,
            "",
            f"<= {TARGET_FILES_PER_POINT:g}",
            files_per_point <= TARGET_FILES_PER_POINT,
            f"peak {disk['peak']:,} files besides outputs in the job's state directory, "
            f"sampled each second, for {points:,} points in about {tasks:,} tasks",
        )
    )
    sec.rows.append(
        Row(
            "local",
            f"left by {points:,} finished points besides outputs (disk)",
            left_mb,
            "MiB",
            "",
            None,
            None,
            "",
            f"< {limit_mb:g} MiB",
            left_mb < limit_mb,
            f"{disk['files']:,} files, {disk['size'] / 1024 / 1024:.2f} MiB apparent size, "
            f"{left_mb:.2f} MiB on disk (the target: {TARGET_LEFT_MB:g} MB per 10,000 points)",
        )
    )
