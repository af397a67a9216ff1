"""The local backend end to end through the real command line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clihelp import REPO, seed_loop, sigint_default, superbatch, write_spec

DEMO = REPO / "jobs" / "sum-of-powers.yaml"


@pytest.fixture
def demo(tmp_path):
    """A copy of the demo job and worker in a scratch directory."""
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    (tmp_path / "jobs").mkdir()
    shutil.copy(DEMO, tmp_path / "jobs" / "sum-of-powers.yaml")
    return tmp_path / "jobs" / "sum-of-powers.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_run_prints_the_seed_loops_number_exactly(demo):
    result = superbatch("run", demo)
    assert result.code == 0, result.stderr
    assert result.last_line == "9.532962532158818"
    assert float(result.last_line) == seed_loop()
    written = json.loads((demo.parent.parent / "results" / "sum-of-powers.json").read_text())
    assert written == seed_loop()


def test_editing_seeds_and_reducer_gives_the_right_answer(demo):
    edit(demo, "seed: [1, 12, 123, 1234]", "seed: [5, 6, 7]")
    result = superbatch("run", demo, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == seed_loop(seeds=(5, 6, 7))
    edit(demo, "reduce: sum", "reduce: list")
    result = superbatch("run", demo, "--json")  # only collect changed: same job re-collected
    assert result.json["result"] == [seed_loop(seeds=(s,)) for s in (5, 6, 7)]
    edit(demo, "reduce: list", "reduce: max")
    assert float(superbatch("run", demo).last_line) == max(seed_loop(seeds=(s,)) for s in (5, 6, 7))


@pytest.mark.parametrize(
    "reduce, expected",
    [
        ("sum", 10),
        ("mean", 2.5),
        ("min", 1),
        ("max", 4),
        ("list", [1, 2, 3, 4]),
        ("stack", [1, 2, 3, 4]),
        ("concat", [1, 2, 3, 4]),
    ],
)
def test_builtin_reducers(tmp_path, reduce, expected):
    (tmp_path / "w.py").write_text(
        "import joblib\nx = joblib.load('inputs.pickle')['x']\njoblib.dump(x, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: r\nworker: {command: 'python {worker_dir}/w.py'}\n"
        f"parameters: {{x: [1, 2, 3, 4]}}\ncollect: {{reduce: {reduce}}}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == expected


def test_stack_of_arrays_and_output_formats(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib, numpy as np\nc = joblib.load('config.pickle')\n"
        "x = joblib.load('inputs.pickle')['x']\n"
        "joblib.dump(np.full(c['n'], x, dtype=float), 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: s\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "globals: {n: 3}\nparameters: {x: [1, 2]}\n"
        "collect: {reduce: stack, output: out/r.npy}\n",
    )
    result = superbatch("run", spec)
    assert result.code == 0, result.stderr
    assert np.array_equal(np.load(tmp_path / "out" / "r.npy"), [[1, 1, 1], [2, 2, 2]])
    assert json.loads(result.last_line) == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    for suffix, check in [
        (".csv", lambda p: p.read_text() == "1.0,1.0,1.0\n2.0,2.0,2.0\n"),
        (".json", lambda p: json.loads(p.read_text())[1] == [2, 2, 2]),
        (
            ".pkl",
            lambda p: np.array_equal(
                __import__("pickle").loads(p.read_bytes()), [[1] * 3, [2] * 3]
            ),
        ),
    ]:
        target = tmp_path / f"r{suffix}"
        assert superbatch("collect", spec, "-o", target).code == 0
        assert check(target), suffix


def test_custom_reducer_module_function(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib\njoblib.dump(joblib.load('inputs.pickle')['x'] * 10, 'outputs.pickle')\n"
    )
    (tmp_path / "myreduce.py").write_text(
        "def product(values):\n    out = 1\n"
        "    for v in values:\n        out *= v\n    return out\n"
    )
    spec = write_spec(
        tmp_path,
        "name: c\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3]}\ncollect: {reduce: 'myreduce:product'}\n",
    )
    result = superbatch("run", spec)
    assert result.code == 0, result.stderr
    assert result.last_line == "6000"


def test_json_format_with_a_worker_that_is_not_python(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    (tmp_path / "worker.js").write_text(
        "const fs = require('fs');\n"
        "const config = JSON.parse(fs.readFileSync('config.json'));\n"
        "const inputs = JSON.parse(fs.readFileSync('inputs.json'));\n"
        "fs.writeFileSync('outputs.json', JSON.stringify({y: inputs.x * config.scale, "
        "files: fs.readdirSync('.').sort()}));\n"
    )
    spec = write_spec(
        tmp_path,
        "name: js\nworker:\n  command: node {worker_dir}/worker.js\n"
        "  format: json\nglobals: {scale: 3}\nparameters: {x: [1, 2]}\n"
        "collect: {reduce: list}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [
        {"y": 3, "files": ["config.json", "inputs.json"]},
        {"y": 6, "files": ["config.json", "inputs.json"]},
    ]
    outputs = list((tmp_path / ".superbatch").glob("*/outputs/task_*_outputs.json"))
    assert sorted(p.name for p in outputs) == ["task_0_outputs.json", "task_1_outputs.json"]


def test_chunked_tasks_reduce_in_point_order(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib\njoblib.dump(joblib.load('inputs.pickle')['x'], 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: k\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: {range: [10]}}\ntasks: {points_per_task: 4}\n"
        "collect: {reduce: list}\n",
    )
    result = superbatch("run", spec, "--json", "--parallel", "3")
    assert result.code == 0, result.stderr
    assert result.json["result"] == list(range(10))
    status = superbatch("status", spec, "--json").json
    assert status["total"] == 3 and status["succeeded"] == 3


FAILING_WORKER = (
    "import joblib, sys\nx = joblib.load('inputs.pickle')['x']\n"
    "if x == 2:\n    print('bad point', x, file=sys.stderr)\n    sys.exit(7)\n"
    "print('ok', x)\njoblib.dump(x, 'outputs.pickle')\n"
)


def test_failed_task_status_logs_and_collect_exit_codes(tmp_path):
    (tmp_path / "w.py").write_text(FAILING_WORKER)
    spec = write_spec(
        tmp_path,
        "name: f\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3]}\ntasks: {max_retries: 1}\n"
        "collect: {reduce: sum}\n",
    )
    result = superbatch("run", spec)
    assert result.code == 1
    assert "1 of 3 outputs are missing (points 1)" in result.stderr
    status = superbatch("status", spec, "--json")
    assert status.code == 1
    failure = status.json["failures"][0]
    assert failure["task_id"] == "task-00001" and failure["exit_code"] == 7
    assert "bad point 2" in failure["stderr_tail"]
    human = superbatch("status", spec)
    assert "failed task-00001 (exit code 7)" in human.stdout
    logs = superbatch("logs", spec, "--json")  # default: the first failed task
    assert logs.json["task_id"] == "task-00001" and "bad point 2" in logs.json["stderr"]
    assert "ok 3" in superbatch("logs", spec, "task-00002", "--stream", "stdout").stdout
    partial = superbatch("collect", spec, "--allow-missing", "--json")
    assert partial.code == 0 and partial.json["result"] == 4 and partial.json["missing"] == 1


def test_retry_reruns_only_failed_tasks(tmp_path):
    marker = tmp_path.parent / f"{tmp_path.name}-runs.log"  # outside the worker's files
    fixed = tmp_path.parent / f"{tmp_path.name}-fixed"  # so is the fix
    (tmp_path / "w.py").write_text(
        "import joblib, os, sys\nx = joblib.load('inputs.pickle')['x']\n"
        f"open({str(marker)!r}, 'a').write(str(x) + '\\n')\n"
        f"if x == 2 and not os.path.exists({str(fixed)!r}):\n    sys.exit(3)\n"
        "joblib.dump(x, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: rt\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3]}\ncollect: {reduce: sum}\n",
    )
    assert superbatch("run", spec).code == 1
    fixed.touch()
    retried = superbatch("retry", spec, "--json")
    assert retried.code == 0 and retried.json["requeued"] == ["task-00001"]
    result = superbatch("collect", spec, "--wait", "--json")
    assert result.code == 0 and result.json["result"] == 6
    assert sorted(marker.read_text().split()) == ["1", "2", "2", "3"]


def test_wall_time_is_enforced(tmp_path):
    spec = write_spec(
        tmp_path,
        "name: wt\nworker: {command: sleep 30}\nparameters: {x: [1]}\ntasks: {max_wall_time: 1s}\n",
    )
    started = time.monotonic()
    result = superbatch("run", spec)
    assert result.code == 1 and time.monotonic() - started < 20
    status = superbatch("status", spec, "--json").json
    assert status["failures"][0]["code"] == "MaxWallClockTimeExceeded"


def test_worker_that_writes_no_output_is_a_failure(tmp_path):
    spec = write_spec(tmp_path, "name: nout\nworker: {command: 'true'}\nparameters: {x: [1]}\n")
    assert superbatch("run", spec).code == 1
    failure = superbatch("status", spec, "--json").json["failures"][0]
    assert failure["code"] == "OutputMissing" and "outputs.pickle" in failure["message"]


def test_submit_runs_in_background_and_collect_waits(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib, time\ntime.sleep(0.3)\n"
        "joblib.dump(joblib.load('inputs.pickle')['x'], 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: bg\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3, 4]}\ncollect: {reduce: sum}\n",
    )
    submitted = superbatch("submit", spec, "--json")
    assert submitted.code == 0
    job_id = submitted.json["job_id"]
    assert job_id.startswith("bg-")
    early = superbatch("collect", spec)
    assert early.code in (0, 1)  # 1 while outputs are still missing
    result = superbatch("collect", spec, "--wait", "--job-id", job_id)
    assert result.code == 0 and result.last_line == "10"
    again = superbatch("submit", spec, "--json")
    assert again.json["job_id"] == job_id and again.json["already_submitted"] is True


def test_interrupted_run_finishes_only_what_is_unfinished(tmp_path):
    marker = tmp_path.parent / f"{tmp_path.name}-runs.log"  # outside the worker's files
    (tmp_path / "w.py").write_text(
        "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(0.4)\n"
        f"open({str(marker)!r}, 'a').write(str(x) + '\\n')\n"
        "joblib.dump(x, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: ir\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: {range: [12]}}\ncollect: {reduce: list}\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", str(spec), "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        not marker.exists() or len(marker.read_text().split()) < 3
    ):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its workers die mid-flight
    proc.wait()
    done_before = set(marker.read_text().split())
    assert 3 <= len(done_before) < 12
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == list(range(12))
    runs = marker.read_text().split()
    journal = next((tmp_path / ".superbatch").glob("*/journal.jsonl")).read_text()
    finished_first = {
        e["task"]
        for e in map(json.loads, filter(None, journal.splitlines()))
        if e.get("state") == "completed"
    }
    assert len(finished_first) == 12
    # Every point ran at most twice (once if it had finished before the kill).
    assert sorted(set(runs)) == sorted(str(i) for i in range(12))
    assert len(runs) <= 12 + 2  # only the (at most 2) in-flight points ran again


def test_ctrl_c_leaves_consistent_state(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(0.5)\n"
        "joblib.dump(x, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: cc\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: {range: [8]}}\ncollect: {reduce: sum}\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", str(spec), "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_default,
    )
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    result = superbatch("run", spec)
    assert result.code == 0 and result.last_line == str(sum(range(8)))


def test_commands_without_a_submission_say_what_to_do(tmp_path):
    spec = write_spec(tmp_path, "name: ns\nworker: {command: 'true'}\nparameters: {x: [1]}\n")
    for command in ("status", "collect", "logs", "retry", "cancel"):
        result = superbatch(command, spec)
        assert result.code == 2, command
        assert "has not been submitted" in result.stderr and "Traceback" not in result.stderr
    result = superbatch("status", spec, "--job-id", "ns-nope")
    assert result.code == 2 and "no job 'ns-nope'" in result.stderr


def test_cancel_and_delete(tmp_path):
    spec = write_spec(tmp_path, "name: cd\nworker: {command: sleep 20}\nparameters: {x: [1, 2]}\n")
    job_id = superbatch("submit", spec).last_line
    time.sleep(0.5)
    assert superbatch("cancel", spec).code == 0
    status = superbatch("status", spec, "--json").json
    assert status["job_state"] == "terminated" and status["succeeded"] == 0
    refused = superbatch("delete", spec)
    assert refused.code == 2 and "--yes" in refused.stderr
    assert superbatch("delete", spec, "--yes").code == 0
    assert not (tmp_path / ".superbatch" / job_id).exists()


def test_init_scaffolds_a_job_that_runs(tmp_path):
    target = tmp_path / "my-sweep"
    result = superbatch("init", target)
    assert result.code == 0, result.stderr
    spec = target / "my-sweep.yaml"
    for name in (
        "worker/worker.py",
        "worker/constants.py",
        "worker/Dockerfile",
        "worker/requirements.txt",
    ):
        assert (target / name).exists()
    run = superbatch("run", spec)
    assert run.code == 0 and run.last_line == "30"  # 1 + 4 + 9 + 16
    assert superbatch("init", target).code == 2  # refuses to overwrite


def test_help_and_no_progress_bar_when_piped(tmp_path):
    result = superbatch("--help")
    assert result.code == 0
    for command in (
        "validate",
        "plan",
        "submit",
        "status",
        "collect",
        "run",
        "logs",
        "retry",
        "cancel",
        "delete",
        "init",
        "schema",
        "emulator",
    ):
        assert command in result.stdout
    (tmp_path / "w.py").write_text("import joblib\njoblib.dump(1, 'outputs.pickle')\n")
    spec = write_spec(
        tmp_path,
        "name: p\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2]}\ncollect: {reduce: sum}\n",
    )
    run = superbatch("run", spec)
    assert "\r" not in run.stderr and "━" not in run.stderr


def test_a_failed_chunk_keeps_none_of_its_outputs_like_azure(tmp_path):
    (tmp_path / "w.py").write_text(FAILING_WORKER)
    spec = write_spec(
        tmp_path,
        "name: fc\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3, 4]}\ntasks: {points_per_task: 2}\n"
        "collect: {reduce: list}\n",
    )
    result = superbatch("run", spec, "--allow-missing", "--json")
    assert result.code == 0
    # Point x=2 fails, so task-00000 (x=1, x=2) contributes nothing, as on Azure Batch,
    # which uploads a task's outputs only on success.
    assert result.json["result"] == [3, 4] and result.json["missing"] == 2


def test_points_starting_at_once_all_get_the_config(demo):
    """Regression: threads that found no shared config each replaced it, and a thread linking
    the replaced file got ENOENT ("config.pickle: No such file or directory") from link()."""
    import threading

    from superbatch.backends.local.runner import SHARED_CONFIG, Runner
    from superbatch.jobs.state import JobState

    run = superbatch("run", demo, "--json")
    assert run.code == 0, run.stderr
    job_dir = demo.parent / ".superbatch" / run.json["job_id"]
    state = JobState(job_dir.parent, job_dir.name)
    failures: list[BaseException] = []
    for attempt in range(40):
        runner = Runner(state, 8)
        shutil.rmtree(state.tasks_dir / SHARED_CONFIG, ignore_errors=True)
        start = threading.Barrier(8)

        def place(n: int, runner=runner, start=start, attempt=attempt) -> None:
            wd = job_dir / "race" / f"{attempt}-{n}"
            wd.mkdir(parents=True)
            start.wait()
            try:
                os.link(runner._shared_config(), wd / "config.pickle")  # as the task runner
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                failures.append(exc)

        threads = [threading.Thread(target=place, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    placed = list((job_dir / "race").glob("*/config.pickle"))
    assert len(placed) == 40 * 8
    assert {p.read_bytes() for p in placed} == {(state.inputs_dir / "config.pickle").read_bytes()}


def test_a_runner_slow_to_start_is_waited_for_not_started_again(tmp_path):
    """A detached runner takes the job's lock only once its interpreter is up; on a loaded
    machine that takes a while. Whoever waits meanwhile must not take it for dead: it used
    to start three more runners in a second and fail with "stopped 3 times without
    completing a task" (exit 3)."""
    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\n"
        "if 'superbatch.backends.local' in getattr(sys, 'orig_argv', []):\n"
        "    time.sleep(2.5)  # the detached runner's interpreter, slow to come up\n"
    )
    (tmp_path / "w.py").write_text(
        "import joblib\njoblib.dump(joblib.load('inputs.pickle')['x'], 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: slowstart\nworker: {command: 'python {worker_dir}/w.py', directory: .}\n"
        "parameters: {x: [1, 2]}\ncollect: {reduce: sum}\n",
    )
    paths = [str(slow), os.environ.get("PYTHONPATH", "")]
    env = {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    assert superbatch("submit", spec, env=env).code == 0
    result = superbatch("collect", spec, "--wait", "--json", env=env)
    assert result.code == 0, result.stderr
    assert result.json["result"] == 2 + 1
    job = next(p for p in (tmp_path / ".superbatch").iterdir() if p.name.startswith("slowstart"))
    started = (job / "runner.log").read_text()
    assert "stopped" not in result.stderr and started.count("Traceback") == 0


def test_collect_remembers_what_it_saw_when_it_fails_too(tmp_path):
    """A collect keeps the status it saw and when the job was first seen finished (for
    `superbatch jobs`), whether it fails or ends in a result; a result is remembered once
    written, and a later collect keeps the first finishing time."""
    from superbatch.jobs.state import JobState, state_root

    (tmp_path / "w.py").write_text(FAILING_WORKER)
    spec = write_spec(
        tmp_path,
        "name: seen\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: [1, 2, 3]}\ncollect: {reduce: sum, output: out.json}\n",
    )
    assert superbatch("submit", spec).code == 0
    assert superbatch("wait", spec).code == 1
    (job_dir,) = [d for d in state_root(tmp_path).iterdir() if (d / "record.json").exists()]
    state = JobState(job_dir.parent, job_dir.name)
    state.update_progress(finished_at=None, last_status=None)
    failed = superbatch("collect", spec)
    assert failed.code == 1 and "1 of 3 outputs are missing" in failed.stderr
    seen = state.read_progress()
    assert seen.last_status is not None and seen.last_status.done
    assert (seen.last_status.succeeded, seen.last_status.failed) == (2, 1)
    assert seen.finished_at is not None and seen.collected_at is None
    partial = superbatch("collect", spec, "--allow-missing")
    assert partial.code == 0 and partial.stdout.strip() == "4"
    done = state.read_progress()
    assert done.finished_at == seen.finished_at and done.collected_at is not None
    assert done.result_file == str(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == 4
