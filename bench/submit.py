"""Submit: ``superbatch submit --backend azure`` against the raw-HTTP add-collection floor.

Measured: the real CLI in a subprocess (its time includes the interpreter's start-up, the
config upload, the pool and the job, and the reconciliation at the end: the job's task
counts, and a listing of every task only if they fall short), against the emulator started
with ``--no-run`` (tasks accepted, never run) and Azurite.
Floor (``bench/rawhttp.py``): the same task bodies, built by superbatch's own code before the
clock starts, POSTed 100 per request by ``FLOOR_IN_FLIGHT`` threads over keep-alive
connections with the C json encoder: what adding these tasks costs at the least.

Each side gets fresh services for every run; the two alternate (``bench/harness.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import harness
from bench.common import Row, Section, Services, check, superbatch, write_job

FLOOR_IN_FLIGHT = 16
TARGET_RATIO = 0.9  # of the floor, at the large size
TARGET_AUTO = 1.0  # points/s with points_per_task: auto, over one point a task
TARGET_WITH_LATENCY = 2000.0  # tasks/s at the large size, 50 ms on every Batch request
LATENCY = "50ms"


def measured(n: int, tmp: Path, latency: str | None, log, per_task="1"):
    def side(r: int) -> harness.Sample:
        with Services(latency=latency) as services:
            spec = write_job(
                tmp / f"sb{per_task}-{r}",
                f"sub{n}",
                n,
                container=f"sub{r}",
                points_per_task=per_task,
            )
            with harness.Meter(services.pids, client="children") as meter:
                run = superbatch("submit", spec, "--backend", "azure", "--json", env=services.env)
            check(run, f"superbatch submit ({n:,} tasks)")
            if per_task == "1" and json.loads(run.stdout).get("tasks") not in (None, n):
                raise RuntimeError(f"superbatch submit added {run.stdout[:200]}")
        return meter.sample(n)

    return side


def floor(n: int, tmp: Path, latency: str | None, log):
    def side(r: int) -> harness.Sample:
        from azure.batch import models as bm

        from batch_emulator import DEV_ACCOUNT, DEV_KEY
        from bench.bodies import chunks, task_bodies
        from bench.rawhttp import RawBatch, add_collection_floor

        with Services(latency=latency) as services:
            spec = write_job(tmp / f"fl{r}", f"sub{n}", n, container=f"floor{r}")
            job_id = f"floor-{r}"
            bodies = chunks(task_bodies(spec, job_id, services.connection_string))
            services.batch_client().create_job(
                bm.BatchJobCreateOptions(id=job_id, pool_info=bm.BatchPoolInfo(pool_id="benchpool"))
            )
            batch = RawBatch(services.endpoint, DEV_ACCOUNT, DEV_KEY)
            with harness.Meter(services.pids, client="self") as meter:
                add_collection_floor(batch, job_id, bodies, FLOOR_IN_FLIGHT)
        return meter.sample(n)

    return side


def compare(n: int, tmp: Path, latency: str | None, repeats: int, log) -> harness.Comparison:
    return harness.interleave(
        measured(n, tmp, latency, log), floor(n, tmp, latency, log), repeats, log
    )


def row(case: str, c: harness.Comparison, target: str, passed: bool | None, cpus: int, latency):
    return Row(
        "submit",
        case,
        c.rates.median,
        "tasks/s",
        f"raw-HTTP add-collection floor, {FLOOR_IN_FLIGHT} in flight",
        c.baseline_rates.median,
        c.ratio,
        "x floor rate",
        target,
        passed,
        harness.describe(c, cpus, latency is not None),
    )


def run(sizes: dict, tmp: Path, repeats: int, cpus: int, log=print) -> Section:
    small, large = sizes["submit_small"], sizes["submit_large"]
    sec = Section("submit", "Submit to the Batch emulator (--no-run) and Azurite")
    tmp.mkdir(parents=True, exist_ok=True)
    log(f"  submit {small:,} tasks, no added latency")
    c_small = compare(small, tmp / "small", None, repeats, log)
    sec.rows.append(row(f"submit, {small:,} tasks", c_small, "", None, cpus, None))
    log(f"  submit {small:,} points, points_per_task auto against one point a task")
    c_auto = harness.interleave(
        measured(small, tmp / "auto", None, log, "auto"),
        measured(small, tmp / "auto", None, log),
        repeats,
        log,
    )
    sec.rows.append(
        Row(
            "submit",
            f"submit, {small:,} points, points_per_task: auto",
            c_auto.rates.median,
            "points/s",
            "the same points, one a task (median)",
            c_auto.baseline_rates.median,
            c_auto.ratio,
            "x baseline rate",
            f">= {TARGET_AUTO:g}x",
            c_auto.ratio >= TARGET_AUTO,
            harness.describe(c_auto, cpus, False, "points/s"),
        )
    )
    log(f"  submit {large:,} tasks, no added latency")
    c_large = compare(large, tmp / "large", None, repeats, log)
    sec.rows.append(
        row(
            f"submit, {large:,} tasks",
            c_large,
            f">= {TARGET_RATIO:g}x floor",
            c_large.ratio >= TARGET_RATIO,
            cpus,
            None,
        )
    )
    log(f"  submit {large:,} tasks, {LATENCY} on every Batch request")
    c_lat = compare(large, tmp / "latency", LATENCY, repeats, log)
    sec.rows.append(
        row(
            f"submit, {large:,} tasks, {LATENCY} Batch latency",
            c_lat,
            f">= {TARGET_WITH_LATENCY:,.0f} tasks/s",
            c_lat.rates.median >= TARGET_WITH_LATENCY,
            cpus,
            LATENCY,
        )
    )
    sec.comparisons = {"small": c_small, "auto": c_auto, "large": c_large, "latency": c_lat}
    return sec
