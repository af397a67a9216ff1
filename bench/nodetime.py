"""Node time on Azure (the emulator's nodes and Azurite): what a user pays VMs for, per point.

A job of the seed's workload runs on the emulator (one node of the pool's 2-vCPU size,
running its tasks' real commands: this machine's 2 CPUs are its vCPUs), submitted and waited
for with the CLI; its node time is the sum over its tasks of Batch's ``executionInfo.endTime
- startTime``, divided by its points. A task runs its slot's share of the node's CPUs' worth
of points at once (``superbatch/taskrunner/fanout.py``), as on Azure. The same job on two
nodes is shown for information: they share this machine's CPUs, so each has about one. Each
mode runs the target's size (``sizes["nodetime"]`` points, ``TARGET_TASKS`` tasks), and the
default worker also the curve over points per task (``CURVE``: fewer points where a task
holds few, since the figure is per point). Beside them, measured in the same run: ``python
worker.py`` per point (files included, two at a time: a 2-vCPU node's time per point), the
fork+files floor (a child per point forked from a parent holding numpy and joblib, the
contract's files written and read back, two parents at once: what isolation ``point`` costs
a 2-vCPU node at least on this machine) and the in-process work (the for-loop). The
machine's load average while the section ran is noted: on a shared machine every figure here
scales with it (a bare fork costs several times more at a load of 10 on two CPUs than on a
quiet one), so only figures of the same run compare.

The modes are the worker sections in ``MODES``; one that ``superbatch validate --backend
azure`` refuses (a way of running points not yet shipped to Azure) is reported as refused,
with the validator's words, so the rows appear as soon as the backend takes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.common import Row, Section, Services, check, superbatch, write_job
from bench.harness import LoadSampler
from bench.local import for_loop, job_spec
from bench.localfloors import POINT, fork_floor, process_floor

TARGET_TASKS = 20
TARGETS_MS = {"default": 8.0, "function": 1.0}
CURVE = ((1, 20), (10, 100), (50, 500))  # (points per task, points), then the target's size
QUICK_CURVE = ((1, 4), (10, 20), (50, 50))
PROCESS_POINTS = 100
MODES = {
    # the seed's worker as written: `python {worker_dir}/worker.py`, isolation point (the
    # default); on Azure today a shell loop starting the interpreter per point
    "default": "python worker.py (isolation point, the default)",
    "function": "worker.function: seedfn:point (isolation task)",
}
POOL = "  pool: {id: benchpool, vm_size: standard_d2s_v3, dedicated_nodes: 1}\n"
TWO_NODES = "  pool: {id: benchpool, vm_size: standard_d2s_v3, dedicated_nodes: 2}\n"


def spec_for(directory: Path, mode: str, points: int, per_task: int, nodes: int = 1) -> Path:
    if mode == "function":
        spec = job_spec(directory, "function", points, per_task)
    else:
        spec = write_job(directory, f"node-{mode}", points, points_per_task=per_task)
    text = spec.read_text()
    if nodes == 2:
        text = text.replace(POOL, TWO_NODES)
    if mode == "function":  # the function's module inside the image's copy of the worker
        text = text.replace("  image: ", "  # image: ").replace("  image_directory: ", "  # ")
    spec.write_text(text)
    (directory / "worker" / "seedfn.py").write_text(POINT)
    return spec


def refusal(spec: Path, env: dict) -> str | None:
    """What ``validate --backend azure`` says against this mode, or None if it takes it."""
    run = superbatch("validate", spec, "--backend", "azure", env=env)
    if run.code == 0:
        return None
    return " ".join((run.stderr or run.stdout).split())[:400]


def node_time(spec: Path, points: int, expected: float | None) -> tuple[float, int, float]:
    """Seconds of node time (the tasks' run times summed), tasks, and wall seconds."""
    with Services(run_tasks=True) as services:
        env = services.env
        sub = check(superbatch("submit", spec, "--backend", "azure", "--json", env=env), "submit")
        job_id = json.loads(sub.stdout)["job_id"]
        check(superbatch("wait", spec, "--backend", "azure", "--job-id", job_id, env=env), "wait")
        wall = sub.seconds
        record = json.loads((spec.parent / ".superbatch" / job_id / "record.json").read_text())
        batch_job = record["target"].get("batch_job_id") or job_id
        tasks = list(services.batch_client().list_tasks(batch_job))
        total = 0.0
        for task in tasks:
            info = task.execution_info
            if info is None or info.start_time is None or info.end_time is None:
                raise RuntimeError(f"task {task.id} has no run time ({task.state})")
            if info.exit_code != 0:
                raise RuntimeError(f"task {task.id} exited {info.exit_code}")
            total += (info.end_time - info.start_time).total_seconds()
        if expected is not None:
            run = superbatch(
                "collect", spec, "--backend", "azure", "--job-id", job_id, "--json", env=env
            )
            result = json.loads(check(run, "collect").stdout)["result"]
            if result != expected:
                raise RuntimeError(f"the job's result {result!r} is not the for-loop's")
    return total, len(tasks), wall


def run(points: int, quick: bool, tmp: Path, log=print) -> Section:
    with LoadSampler() as load:
        sec = _run(points, quick, tmp, log)
    values = sorted(load.values)
    sec.notes.append(
        f"The machine's 1-minute load average while this section ran: median "
        f"{values[len(values) // 2]:.1f} ({values[0]:.1f}-{values[-1]:.1f}), on "
        f"{os.cpu_count()} CPUs; compare these figures only with each other."
    )
    return sec


def _run(points: int, quick: bool, tmp: Path, log) -> Section:
    sec = Section(
        "nodetime",
        f"Node time per point on Azure (the emulator's nodes), {points:,} points in "
        f"{TARGET_TASKS} tasks",
    )
    tmp.mkdir(parents=True, exist_ok=True)
    loop_s, expected = for_loop(0, points)
    work_ms = loop_s / points * 1000
    proc_n = min(points, PROCESS_POINTS)
    proc_s, _ = process_floor(proc_n)
    proc_ms = proc_s / proc_n * 1000  # two at a time: a 2-vCPU node's time per point
    fork_s, _ = fork_floor(proc_n, files=True)
    fork_ms = fork_s / proc_n * 1000  # two parents at once, as proc_ms
    per_task = -(-points // TARGET_TASKS)
    with Services() as services:
        refused = {
            mode: refusal(spec_for(tmp / f"{mode}-check", mode, points, per_task), services.env)
            for mode in MODES
        }
    for mode, label in MODES.items():
        if refused[mode]:
            sec.notes.append(
                f"{label}: not measured, `validate --backend azure` refuses it: {refused[mode]}"
            )
            continue
        log(f"  {label}: {points:,} points, {per_task} a task")
        total, tasks, _ = node_time(spec_for(tmp / mode, mode, points, per_task), points, expected)
        value = total / points * 1000
        target = TARGETS_MS[mode]
        sec.rows.append(
            Row(
                "nodetime",
                f"{label}: node time per point, {per_task} points a task",
                value,
                "ms",
                "the in-process work, per point",
                work_ms,
                value / work_ms,
                "x baseline time",
                f"<= {target:g} ms",
                value <= target,
                f"{total:.1f} s of node time in {tasks} tasks (Batch executionInfo end - start, "
                f"summed), {value / fork_ms:.2f}x the fork+files floor; results equal "
                f"the for-loop's",
            )
        )
        if mode != "default":
            continue
        log(f"  {label}: {points:,} points, {per_task} a task, two nodes")
        two_total, two_tasks, _ = node_time(
            spec_for(tmp / f"{mode}-two", mode, points, per_task, nodes=2), points, expected
        )
        two = two_total / points * 1000
        sec.rows.append(
            Row(
                "nodetime",
                f"{label}: node time per point, {per_task} points a task, two nodes (info)",
                two,
                "ms",
                "the in-process work, per point",
                work_ms,
                two / work_ms,
                "x baseline time",
                note=f"{two_total:.1f} s of node time in {two_tasks} tasks on two nodes sharing "
                f"this machine's {os.cpu_count()} CPUs (about one each): what a node with half "
                f"the CPUs would cost",
            )
        )
        for ppt, n in QUICK_CURVE if quick else CURVE:
            log(f"  {label}: {n:,} points, {ppt} a task")
            curve_total, curve_tasks, _ = node_time(
                spec_for(tmp / f"{mode}-{ppt}", mode, n, ppt), n, for_loop(0, n)[1]
            )
            curve = curve_total / n * 1000
            sec.rows.append(
                Row(
                    "nodetime",
                    f"{label}: node time per point, {ppt} point(s) a task (info)",
                    curve,
                    "ms",
                    f"`python worker.py` per point ({proc_n} points, 2 at a time), node time",
                    proc_ms,
                    curve / proc_ms,
                    "x baseline time",
                    note=f"{n:,} points in {curve_tasks} tasks",
                )
            )
    sec.rows.append(
        Row(
            "nodetime",
            "fork+files floor per point, node time (info)",
            fork_ms,
            "ms",
            "the in-process work, per point",
            work_ms,
            fork_ms / work_ms,
            "x baseline time",
            note=f"{proc_n} points, a child per point forked from a parent holding numpy and "
            f"joblib, the contract's files written and read back; two parents at once, as a "
            f"2-vCPU node runs them",
        )
    )
    sec.rows.append(
        Row(
            "nodetime",
            "`python worker.py` per point, node time (info)",
            proc_ms,
            "ms",
            "the in-process work, per point",
            work_ms,
            proc_ms / work_ms,
            "x baseline time",
            note=f"{proc_n} points, 2 at a time (a 2-vCPU node), each a fresh interpreter "
            f"with the config and inputs written and the output read back",
        )
    )
    return sec
