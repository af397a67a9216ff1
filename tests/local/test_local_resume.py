"""A job whose runner was killed resumes even where a new interpreter starts slowly."""

from __future__ import annotations

import os
import signal
import time

from clihelp import REPO, superbatch, write_spec
from relhelpers import job_ids


def test_collect_wait_resumes_a_killed_runner_that_takes_a_while_to_start(tmp_path):
    # Every interpreter started with this PYTHONPATH (the CLI, the runner, the workers) takes a
    # second before its first line, as on a busy machine: a runner started to resume the job
    # holds its lock only then, which is not a runner that failed.
    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(1)\n")
    env = {"PYTHONPATH": os.pathsep.join([str(slow), str(REPO)])}
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "w.py").write_text(
        "import joblib, os, time\nx = joblib.load('inputs.pickle')['x']\n"
        f"while x == 1 and not os.path.exists({str(tmp_path / 'go')!r}):\n    time.sleep(0.1)\n"
        "joblib.dump(x * 2, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: slow\nworker:\n  command: python {worker_dir}/w.py\n  directory: worker\n"
        "parameters: {x: [0, 1]}\ntasks: {points_per_task: 1}\ncollect: {reduce: list}\n",
    )
    assert superbatch("submit", spec, "--parallel", "2", env=env).code == 0
    state = tmp_path / ".superbatch" / job_ids(spec)[0]
    journal, deadline = state / "journal.jsonl", time.monotonic() + 60
    while not journal.exists() or '"completed"' not in journal.read_text():
        assert time.monotonic() < deadline, "point 0 did not finish"
        time.sleep(0.1)
    os.killpg(int((state / "runner.pid").read_text()), signal.SIGKILL)
    (tmp_path / "go").touch()
    result = superbatch("collect", spec, "--wait", "--json", env=env)
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 2]
