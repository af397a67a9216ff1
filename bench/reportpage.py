"""7. ``superbatch report`` on a job of 100,000 tasks: the page's size and how long headless
Chromium (Debian's package) takes to load it, against an empty page loaded the same way in
the same run (Chromium's own start-up). Targets (issue "Everyday use", item 6): under 5 MB and
under 5 s. The tasks are a real local job's record and status with 100,000 task runs on 50
nodes put in their place (rendering is a function of that data: report.render)."""

from __future__ import annotations

import dataclasses
import shutil
import statistics
from pathlib import Path

from bench.common import Row, Section, check, run_timed, superbatch, write_job

RUNS = 3
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run(tasks: int, tmp: Path) -> Section:
    sec = Section("report", f"Report page of {tasks:,} tasks")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    page = _page(tasks, tmp)
    size_mb = page.stat().st_size / 2**20
    sec.rows.append(
        Row(
            "report", f"page of {tasks:,} tasks", size_mb, "MB", target="< 5 MB", passed=size_mb < 5
        )
    )
    if browser is None:
        sec.notes.append("Not rendered: no chromium on this machine (`apt-get install chromium`).")
        return sec
    empty = tmp / "empty.html"
    empty.write_text("<!DOCTYPE html><html><body></body></html>\n")
    loaded, baseline = [], []
    for i in range(RUNS):  # interleaved, each in a fresh profile
        for target, times in ((page, loaded), (empty, baseline)):
            cmd = [
                browser,
                *FLAGS,
                f"--user-data-dir={tmp / f'profile{i}{target.stem}'}",
                "--dump-dom",
                target.as_uri(),
            ]
            done = run_timed(cmd, timeout=120)
            if done.code != 0:
                raise RuntimeError(f"chromium failed: {done.stderr[-1000:]}")
            times.append(done.seconds)
    seconds, floor = statistics.median(loaded), statistics.median(baseline)
    sec.rows.append(
        Row(
            "report",
            "headless Chromium loads it",
            seconds,
            "s",
            "an empty page",
            floor,
            seconds / floor,
            "x the empty page",
            "< 5 s",
            seconds < 5,
        )
    )
    sec.notes.append(
        f"{RUNS} loads each, interleaved; the empty page's time is Chromium's own start-up."
    )
    return sec


def _page(tasks: int, tmp: Path) -> Path:
    """A real job's page data with ``tasks`` task runs in place of its own."""
    from superbatch.backends.base import TaskFailure
    from superbatch.backends.reports import TaskRun
    from superbatch.jobs.context import make_context
    from superbatch.results.report import gather, render
    from superbatch.spec.load import load_spec

    spec = write_job(tmp / "job", "reported", 3)
    check(superbatch("run", spec, "--quiet"), "the job to report on")
    ctx = make_context(load_spec(spec), None, None)
    data = gather(ctx, ctx.find_job(None))
    nodes = [f"tvmps_{i:040d}_d" for i in range(50)]
    runs = [
        TaskRun(
            f"task-{i:06d}",
            nodes[i % 50],
            1000.0 + i * 0.02,
            1000.0 + i * 0.02 + 1 + i % 7,
            "failure" if i % 1000 == 0 else "success",
            0,
            i % 3,
        )
        for i in range(tasks)
    ]
    failures = [
        TaskFailure(
            r.task_id,
            1,
            "NonZeroExitCode",
            "the worker exited with code 1",
            "Traceback ...\nValueError: " + "x" * 300,
            [{"seed": i}],
        )
        for i, r in enumerate(runs)
        if r.result == "failure"
    ]
    status = dataclasses.replace(
        data.status,
        total=tasks,
        succeeded=tasks - len(failures),
        failed=len(failures),
        failures=failures,
    )
    page = tmp / "report.html"
    end = max(r.end for r in runs)
    page.write_text(render(dataclasses.replace(data, runs=runs, status=status, made_at=end)))
    return page
