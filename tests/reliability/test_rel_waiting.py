"""Issue 10, parts 5 and 6: --timeout everywhere (exit 4), hints that can be run as they
are, cancel and interrupt told plainly, and the small things users noticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner
from clihelp import sigint_default, superbatch, write_spec

from superbatch.cli import cli

SLOW = (
    "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(SECONDS)\n"
    "joblib.dump(x, 'outputs.pickle')\n"
)


def slow_job(tmp_path, seconds: float, points: int = 2, extra: str = ""):
    (tmp_path / "worker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "worker" / "w.py").write_text(SLOW.replace("SECONDS", str(seconds)))
    return write_spec(
        tmp_path,
        "name: slow\nworker: {command: 'python {worker_dir}/w.py', "
        f"directory: worker}}\nparameters: {{x: {{range: [{points}]}}}}\n"
        f"collect: {{reduce: sum}}\n{extra}",
    )


def test_run_and_collect_honour_timeout_with_their_own_exit_code(tmp_path):
    spec = slow_job(tmp_path, 20)
    started = time.monotonic()
    run = superbatch("run", spec, "--timeout", "2", "--json")
    assert run.code == 4, run
    assert time.monotonic() - started < 15
    assert run.json["ok"] is False and "not finished after 2 s" in run.stderr
    assert "nothing is wrong" in run.stderr and "use collect --wait" not in run.stderr
    waited = superbatch("collect", spec, "--wait", "--timeout", "1")
    assert waited.code == 4 and "collect" in waited.stderr and "--wait" in waited.stderr
    assert superbatch("cancel", spec).code == 0


def test_hints_repeat_the_flags_that_matter(tmp_path):
    spec = slow_job(tmp_path, 0.1, extra="tasks: {max_retries: 0}\n")
    (tmp_path / "worker" / "w.py").write_text(
        "import joblib, sys\nif joblib.load('inputs.pickle')['x'] == 1:\n    sys.exit(3)\n"
        "joblib.dump(1, 'outputs.pickle')\n"
    )
    state = tmp_path / "elsewhere"
    run = superbatch("run", spec, "--state-dir", state, "--new")
    assert run.code == 1
    assert f"`superbatch retry {spec} --state-dir {state}`" in run.stderr
    assert "1 task failed" in run.stderr and "1 tasks" not in run.stderr


def test_an_interrupted_run_says_how_to_go_on_without_starting_another_job(tmp_path):
    spec = slow_job(tmp_path, 3, points=4)
    state = tmp_path / "st"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "superbatch",
            "run",
            str(spec),
            "--new",
            "--state-dir",
            str(state),
            "--parallel",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    deadline = time.monotonic() + 20
    while not list(state.glob("*/journal.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    job_id = next(state.glob("*/record.json")).parent.name
    hint = f"superbatch collect {spec} --wait --job-id {job_id} --state-dir {state}"
    assert hint in err and "--new" not in err.split("To go on")[-1]
    status = superbatch("status", spec, "--state-dir", state, "--json")
    assert status.code == 0 and not status.json["done"]
    assert any("no runner is working on this job" in n for n in status.json["notes"])


def test_quiet_keeps_stdout_empty_and_the_result_goes_to_the_file(tmp_path):
    spec = slow_job(tmp_path, 0, points=3)
    out = tmp_path / "r.json"
    quiet = superbatch("run", spec, "-q", "-o", out)
    assert quiet.code == 0 and quiet.stdout == "" and json.loads(out.read_text()) == 3


def test_reduce_none_with_an_output_is_refused(tmp_path):
    spec = slow_job(tmp_path, 0)
    spec.write_text(spec.read_text().replace("reduce: sum", "reduce: none, output: r.json"))
    result = superbatch("validate", spec)
    assert result.code == 2 and "collect.reduce: none" in result.stderr


def test_plan_shortens_tasks_of_many_points(tmp_path):
    spec = slow_job(tmp_path, 0, points=1000, extra="tasks: {points_per_task: 1000}\n")
    lines = superbatch("plan", spec).stdout.splitlines()
    task = next(line for line in lines if "task-00000" in line)
    assert "1000 points" in task and "and 997 more" in task and len(task) < 200


def test_declining_delete_is_not_the_tasks_failed_code(tmp_path, monkeypatch):
    spec = slow_job(tmp_path, 0)
    assert superbatch("run", spec).code == 0
    import superbatch.cli.control as control

    monkeypatch.setattr(control, "can_prompt", lambda: True)  # as if on a terminal
    result = CliRunner().invoke(cli, ["delete", str(spec)], input="n\n")
    assert result.exit_code == 2 and "not deleted" in result.stderr
    assert list((tmp_path / ".superbatch").glob("*/record.json"))


def test_emulator_help_with_h():
    result = CliRunner().invoke(cli, ["emulator", "-h"])
    assert result.exit_code == 0 and "--port" in result.stdout


def test_result_and_state_files_are_readable_by_others(tmp_path):
    spec = slow_job(tmp_path, 0)
    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        assert superbatch("run", spec, "-o", out).code == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o044 == 0o044
    record = next((tmp_path / ".superbatch").glob("*/record.json"))
    assert record.stat().st_mode & 0o044 == 0o044
