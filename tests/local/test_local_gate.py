"""The detached runner started while a job is submitted (backends/local/gate.py): it runs the
job once the submit finished, and nothing, leaving no process, when the submit failed."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from clihelp import superbatch, write_spec

SPEC = (
    "name: gated\nworker: {function: 'fmod:point', directory: worker}\n"
    "parameters: {x: {range: [0, 40]}}\ntasks: {points_per_task: 10}\ncollect: {reduce: sum}\n"
)


def make_job(tmp_path: Path) -> Path:
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "fmod.py").write_text(
        "import sys\nprint('imported', flush=True)\n\n\n"
        "def point(config, inputs):\n    return inputs['x'] * 2\n"
    )
    return write_spec(tmp_path, SPEC)


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is ``directory`` (the runner's task runners')."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(directory.resolve()):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_submit_runs_the_job_through_the_runner_it_started_before_the_inputs(tmp_path):
    spec = make_job(tmp_path)
    assert superbatch("submit", spec, "--parallel", "2").code == 0
    result = superbatch("collect", spec, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == sum(x * 2 for x in range(40))
    job = next((tmp_path / ".superbatch").glob("gated-*"))
    assert "Traceback" not in (job / "runner.log").read_text()
    # what the module printed while its task runner prepared lands on that runner's first task
    printed = [p.read_text() for p in job.glob("tasks/task-*/stdout.txt")]
    assert printed.count("imported\n") == 2, printed


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="looks for processes in /proc")
def test_a_submit_that_fails_leaves_its_runner_to_exit_having_run_nothing(tmp_path, monkeypatch):
    from superbatch.backends.local.runnerproc import runner_alive
    from superbatch.contract import names
    from superbatch.jobs import lifecycle
    from superbatch.jobs.context import make_context
    from superbatch.spec.load import load_spec

    spec = make_job(tmp_path)
    started = []

    def disk_full(*args, **kwargs):
        job = next((tmp_path / ".superbatch").glob("gated-*"))
        deadline = time.monotonic() + 30
        while len(processes_in(job)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the runner started its two task runners, preparing
        started.extend(processes_in(job))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(names, "inputs_tar", disk_full)
    ctx = make_context(load_spec(spec), None, None, 2)
    with pytest.raises(OSError):
        lifecycle.submit(ctx, then_start=False)

    job = next((tmp_path / ".superbatch").glob("gated-*"))
    deadline = time.monotonic() + 30
    while (runner_alive(ctx.state(job.name)) or processes_in(job)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(started) == 2, "the runner did not start its task runners at the gate"
    assert not runner_alive(ctx.state(job.name))
    assert processes_in(job) == []
    assert not (job / "runner.pid").exists()  # it never took the job
    assert (
        not (job / "journal.jsonl").exists() or "running" not in (job / "journal.jsonl").read_text()
    )
    assert "Traceback" not in (job / "runner.log").read_text()
