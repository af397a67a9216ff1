"""One contract, every backend: submit, status, fail, logs, retry, cancel, collect, delete.

Each scenario runs the real command line (a subprocess, as users and CI run it) against the
local backend and against the azure backend on Azurite and the project's Batch emulator, and
in this process against the unit tier's fake backend (tests/fakebackend.py), so that the fake
cannot drift from the real ones: the outcomes must be the same. A scenario the fake cannot
honestly play (its tasks run inside the command that starts them) skips it, saying why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import pytest
from clihelp import Result, invoke, superbatch, write_spec
from relhelpers import job_ids

from superbatch.backends import registry

# The markers `slow`, `go` and `fixed` are files in MARKERS, outside the worker's files (so
# making one changes no job's identity, and it reaches the copy of the files a job runs).
WORKER = (
    "import joblib, os, sys, time\nx = joblib.load('inputs.pickle')['x']\n"
    "here = MARKERS\n"
    "deadline = time.time() + 60\n"
    "while x >= 3 and os.path.exists(os.path.join(here, 'slow')) and not "
    "os.path.exists(os.path.join(here, 'go')) and time.time() < deadline:\n    time.sleep(0.1)\n"
    "if x == 2 and not os.path.exists(os.path.join(here, 'fixed')):\n"
    "    print('bad point', x, file=sys.stderr)\n    sys.exit(5)\n"
    "print('point', x)\njoblib.dump(x * 2, 'outputs.pickle')\n"
)


@dataclass
class Driver:
    """How a scenario reaches one backend."""

    backend: str
    root: Path
    env: dict = field(default_factory=dict)
    rig: object = None

    def run(self, *args, **kwargs) -> Result:
        env = {**self.env, **kwargs.pop("env", {})}
        if self.backend == "fake":
            return invoke(*args, "--backend", self.backend, env=env)
        return superbatch(*args, "--backend", self.backend, env=env, **kwargs)

    def cannot(self, backends: tuple[str, ...], why: str) -> None:
        """Skip this scenario on ``backends``, which cannot play it honestly."""
        if self.backend in backends:
            pytest.skip(f"{self.backend}: {why}")

    @property
    def markers(self) -> Path:
        path = self.root / "markers"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def spec(self, name: str, points: int) -> Path:
        worker = self.root / "worker"
        worker.mkdir(parents=True, exist_ok=True)
        (worker / "w.py").write_text(WORKER.replace("MARKERS", repr(str(self.markers))))
        return write_spec(
            self.root,
            (
                f"name: {name}\nworker:\n  command: python {{worker_dir}}/w.py\n"
                f"  directory: worker\n  image: example.azurecr.io/w:v1\n  image_directory: /app\n"
                f"parameters: {{x: {{range: [{points}]}}}}\ntasks: {{max_retries: 0}}\n"
                f"collect: {{reduce: list}}\nazure:\n  pool: {{id: scenarios, dedicated_nodes: 2}}\n"
                f"  storage: {{container: sc{abs(hash(str(self.root))) % 10**8}}}\n"
            ),
            name=f"{name}.yaml",
        )


# The fake backend's tasks run inside the command that starts them, so it has no process to
# kill and nothing runs while another command looks.
IN_PROCESS = "its tasks run inside the command that starts them"


@pytest.fixture(params=["fake", "local", "azure"])
def driver(request, tmp_path, monkeypatch):
    if request.param == "fake":
        monkeypatch.setitem(registry.BACKENDS, "fake", "fakebackend:FakeBackend")
        yield Driver("fake", tmp_path)
        return
    if request.param == "local":
        yield Driver("local", tmp_path)
        return
    rig = request.getfixturevalue("rig")
    yield Driver("azure", rig.root, dict(rig.env), rig)


def body(result: Result) -> dict:
    return json.loads(result.stdout)


def test_fail_status_logs_retry_collect(driver):
    spec = driver.spec("contract", 4)
    submitted = driver.run("submit", spec, "--json")
    assert submitted.code == 0, submitted.stderr
    first = driver.run("collect", spec, "--wait", "--json")
    assert first.code == 1 and "1 of 4 outputs are missing (points 2)" in first.stderr
    assert "1 task failed (task-00002)" in first.stderr
    status = driver.run("status", spec, "--json")
    assert status.code == 1
    failure = body(status)["failures"][0]
    assert failure["task_id"] == "task-00002" and failure["exit_code"] == 5
    assert "bad point 2" in failure["stderr_tail"] and failure["points"] == [{"x": 2}]
    logs = driver.run("logs", spec, "task-00002", "--json")
    assert "bad point 2" in body(logs)["stderr"]
    partial = driver.run("collect", spec, "--allow-missing", "--json")
    assert partial.code == 0 and body(partial)["result"] == [0, 2, 6]
    (driver.markers / "fixed").touch()
    retried = driver.run("retry", spec, "--json")
    assert retried.code == 0 and body(retried)["requeued"] == ["task-00002"]
    result = driver.run("collect", spec, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert body(result)["result"] == [0, 2, 4, 6]
    assert body(driver.run("status", spec, "--json"))["failed"] == 0


def test_cancel_then_retry_finishes_the_job(driver):
    (driver.root / "worker").mkdir(parents=True, exist_ok=True)
    (driver.markers / "slow").touch()
    (driver.markers / "fixed").touch()
    spec = driver.spec("cancelled", 5)
    assert driver.run("submit", spec).code == 0
    deadline = time.monotonic() + 30
    while body(driver.run("status", spec, "--json"))["succeeded"] < 3:
        assert time.monotonic() < deadline, "the quick tasks did not finish"
        time.sleep(0.2)
    assert driver.run("cancel", spec).code == 0
    status = body(driver.run("status", spec, "--json"))
    assert status["job_state"] == "terminated" and status["done"]
    # The running tasks were ended: failed, as the service (or the local runner) says.
    assert (status["succeeded"], status["failed"], status["active"]) == (3, 2, 0)
    ended = [(f["task_id"], f["code"], f.get("exit_code")) for f in status["failures"]]
    assert ended == [("task-00003", "TaskEnded", None), ("task-00004", "TaskEnded", None)]
    stopped = driver.run("collect", spec)
    assert stopped.code == 1 and "cancelled" in stopped.stderr and "retry" in stopped.stderr
    (driver.markers / "go").touch()
    retried = driver.run("retry", spec, "--json")
    assert retried.code == 0 and body(retried)["requeued"] == ["task-00003", "task-00004"]
    result = driver.run("collect", spec, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert body(result)["result"] == [0, 2, 4, 6, 8]


def test_run_reuse_and_delete(driver):
    (driver.root / "worker").mkdir(parents=True, exist_ok=True)
    (driver.markers / "fixed").touch()
    spec = driver.spec("deleted", 3)
    first = driver.run("run", spec, "--json")
    assert first.code == 0 and body(first)["result"] == [0, 2, 4]
    again = driver.run("run", spec, "--json")
    assert body(again)["result"] == [0, 2, 4] and "reusing job" in again.stderr
    deleted = driver.run("delete", spec, "--yes", "--json")
    assert deleted.code == 0
    assert not list((spec.parent / ".superbatch").glob("*/record.json"))
    if driver.rig is not None:
        client = driver.rig.client()
        assert [j.id for j in client.list_jobs() if j.state != "deleting"] == []
    gone = driver.run("status", spec)
    assert gone.code == 2 and "has not been submitted" in gone.stderr


def test_collect_with_each_reducer_kind(driver):
    (driver.markers / "fixed").touch()
    spec = driver.spec("reduced", 4)
    (driver.root / "picks.py").write_text(
        "def top(points, values):\n    return max(zip(values, [p['x'] for p in points]))\n"
    )
    assert body(driver.run("run", spec, "--json"))["result"] == [0, 2, 4, 6]
    expected = {
        "sum": 12,
        "mean": 3.0,
        "list": [0, 2, 4, 6],
        "stack": [0, 2, 4, 6],
        "grid": {"dims": ["x"], "coords": {"x": [0, 1, 2, 3]}, "values": [0.0, 2.0, 4.0, 6.0]},
        "picks:top": [6, 3],  # a custom module:function, from the spec's directory
    }
    for reducer, result in expected.items():
        collected = driver.run("collect", spec, "--reduce", reducer, "--json")
        assert collected.code == 0, (reducer, collected.stderr)
        assert body(collected)["result"] == result, reducer
    table = driver.root / "table.csv"
    tabled = driver.run("collect", spec, "--reduce", "table", "-o", table, "--json")
    assert tabled.code == 0 and body(tabled)["result"]["rows"] == 4, tabled.stderr
    assert table.read_text().splitlines() == [
        "point,task_id,x,value",
        *(f"{i},task-0000{i},{i},{2 * i}" for i in range(4)),
    ]
    kept = driver.run("collect", spec, "--reduce", "none", "--json")
    assert kept.code == 0, kept.stderr
    files = sorted(Path(body(kept)["result"]).iterdir())
    assert [f.name for f in files] == [f"task_{i}_outputs.pickle" for i in range(4)]
    assert [joblib.load(f) for f in files] == [0, 2, 4, 6]


def test_resume_after_the_waiting_command_is_killed(driver):
    """``run`` killed mid-job (locally its runner dies with it; on Azure the tasks go on):
    ``collect --wait`` finishes the same job."""
    driver.cannot(("fake",), f"{IN_PROCESS}: there is no process to kill")
    import os
    import signal
    import subprocess
    import sys

    (driver.markers / "slow").touch()
    (driver.markers / "fixed").touch()
    spec = driver.spec("resumed", 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERBATCH_")}
    running = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", str(spec), "--backend", driver.backend],
        env={**env, **driver.env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        # Until `run` has submitted, status says the spec has no job yet (no counts).
        while body(driver.run("status", spec, "--json")).get("succeeded", 0) < 3:
            assert time.monotonic() < deadline, "the quick tasks did not finish"
            assert running.poll() is None, "run ended before it was killed"
            time.sleep(0.2)
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
    status = body(driver.run("status", spec, "--json"))
    assert status["succeeded"] == 3 and not status["done"] and status["failed"] == 0
    (driver.markers / "go").touch()
    result = driver.run("collect", spec, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert body(result)["result"] == [0, 2, 4, 6, 8]
    assert job_ids(spec) == [body(result)["job_id"]]  # the same job, not a new one


ENV_WORKER = (
    "import hashlib, joblib, os\nx = joblib.load('inputs.pickle')['x']\n"
    "token = hashlib.sha256(os.environ['TOKEN'].encode()).hexdigest()[:8]\n"
    "joblib.dump([x, os.environ['MODE'], token], 'outputs.pickle')\n"
)


def test_the_worker_gets_its_environment_and_secrets_stay_out_of_state(driver):
    import hashlib

    spec = driver.spec("env", 2)
    (driver.root / "worker" / "w.py").write_text(ENV_WORKER)
    spec.write_text(
        spec.read_text().replace(
            "  directory: worker\n",
            "  directory: worker\n  env: {MODE: fast, TOKEN: {from_env: SWEEP_TOKEN}}\n",
        )
    )
    token = "tok-7d2f9a-secret"
    refused = driver.run("run", spec)
    assert refused.code == 2 and "SWEEP_TOKEN" in refused.stderr
    result = driver.run("run", spec, "--json", env={"SWEEP_TOKEN": token})
    assert result.code == 0, result.stderr
    digest = hashlib.sha256(token.encode()).hexdigest()[:8]
    assert body(result)["result"] == [[0, "fast", digest], [1, "fast", digest]]
    assert token not in result.stdout + result.stderr
    for path in (spec.parent / ".superbatch").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_report_shows_where_tasks_ran_and_what_failed(driver):
    import re
    from html import unescape

    spec = driver.spec("reported", 4)
    assert driver.run("run", spec).code == 1  # point 2 fails
    page = driver.root / "page.html"
    made = driver.run("report", spec, "-o", page, "--json")
    assert made.code == 0, made.stderr
    html = unescape(page.read_text())
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"><title>(task-\d+): (\w+)', html)
    assert sorted(t for _, t, _ in bars) == [f"task-0000{i}" for i in range(4)]
    assert {t: r for _, t, r in bars}["task-00002"] == "failure"
    nodes = set(re.findall(r'class="node"><title>([^<]+)</title>', html))
    assert nodes == {"local"} if driver.backend == "local" else nodes and "local" not in nodes
    failures = re.search(r'<table class="failures">.*?</table>', html, re.S).group(0)
    assert "task-00002" in failures and "x=2" in failures and "bad point 2" in failures
    preview = re.search(r'<table class="preview">.*?</table>', html, re.S).group(0)
    assert re.findall(r"<tr><td>\d+</td><td>\d+</td><td>([^<]*)</td></tr>", preview) == [
        "0",
        "2",
        "(missing)",
        "6",
    ]


FOLLOWED_WORKER = (
    "import joblib, os, sys, time\nx = joblib.load('inputs.pickle')['x']\n"
    "print('tick one', x, flush=True)\nprint('err one', x, file=sys.stderr, flush=True)\n"
    "deadline = time.time() + 120\n"
    "while not os.path.exists(os.environ['GO_FILE']) and time.time() < deadline:\n"
    "    time.sleep(0.1)\nprint('tick two', x, flush=True)\njoblib.dump(x, 'outputs.pickle')\n"
)


def test_logs_follow_streams_a_running_task_until_it_ends(driver):
    driver.cannot(("fake",), f"{IN_PROCESS}: no task runs while `logs --follow` reads it")
    import os
    import subprocess
    import sys
    import threading

    spec = driver.spec("followed", 1)
    (driver.root / "worker" / "w.py").write_text(FOLLOWED_WORKER)
    go = driver.root / "go-file"
    spec.write_text(
        spec.read_text().replace(
            "  directory: worker\n", f"  directory: worker\n  env: {{GO_FILE: '{go}'}}\n"
        )
    )
    assert driver.run("submit", spec).code == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERBATCH_")}
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "superbatch",
            "logs",
            str(spec),
            "task-00000",
            "--follow",
            "--backend",
            driver.backend,
        ],
        env={**env, **driver.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = []
        reader = threading.Thread(target=lambda: first.append(follower.stdout.readline()))
        reader.start()
        reader.join(90)
        # The first line arrived while the task still waits for the go file: streamed.
        assert first == ["tick one 0\n"] and not go.exists()
        go.touch()
        rest, err = follower.communicate(timeout=120)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert rest == "tick two 0\n" and "err one 0" in err
    assert driver.run("collect", spec, "--wait", "--json").code == 0


# What a point sees of the points before it: whether `decimal` was imported before the
# script's first line (preloaded by the task runner, or left by an earlier point), and how
# often `state` (a module of the worker's own) has been imported into this process.
STATE_WORKER = (
    "import sys\npre = 'decimal' in sys.modules\nimport decimal, joblib, state\n"
    "state.seen.append(1)\nx = joblib.load('inputs.pickle')['x']\n"
    "joblib.dump([x, pre, len(state.seen)], 'outputs.pickle')\n"
)
STATE_FUNCTION = (
    "import state\n\n\ndef f(config, inputs):\n    state.seen.append(1)\n"
    "    return [inputs['x'], config['k'], len(state.seen)]\n"
)
# Four points, two tasks of two: (point, preloaded, times seen) per isolation.
ISOLATED = {
    "point": [[0, True, 1], [1, True, 1], [2, True, 1], [3, True, 1]],
    "task": [[0, False, 1], [1, True, 2], [2, False, 1], [3, True, 2]],
    "process": [[0, False, 1], [1, False, 1], [2, False, 1], [3, False, 1]],
    "function-point": [[0, 7, 1], [1, 7, 1], [2, 7, 1], [3, 7, 1]],
    "function-task": [[0, 7, 1], [1, 7, 2], [2, 7, 1], [3, 7, 2]],
}


@pytest.mark.parametrize("mode", list(ISOLATED))
def test_each_isolation_mode_and_worker_function_see_the_same_state(driver, mode):
    driver.cannot(("fake",), f"{IN_PROCESS}: every point shares the test's interpreter")
    spec = driver.spec(f"iso-{mode}", 4)
    worker = driver.root / "worker"
    (worker / "w.py").write_text(STATE_WORKER)
    (worker / "fn.py").write_text(STATE_FUNCTION)
    (worker / "state.py").write_text("seen = []\n")
    isolation = mode.rpartition("-")[2]
    what = "  function: fn:f\n" if mode.startswith("function") else ""
    text = spec.read_text().replace(
        "  directory: worker\n", f"  directory: worker\n  isolation: {isolation}\n{what}"
    )
    if what:
        text = text.replace("  command: python {worker_dir}/w.py\n", "")
    text = text.replace("tasks: {max_retries: 0}", "tasks: {max_retries: 0, points_per_task: 2}")
    spec.write_text(text + "globals: {k: 7}\n")
    result = driver.run("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert body(result)["result"] == ISOLATED[mode]
