"""The task runner on Azure (emulator + Azurite): shipped once per container as a zipapp
named by its content, run when the command runs a Python script or worker.function is set;
any other command keeps the shell loop; a Python command or function on a node without
Python 3.8+ fails naming what it needs (the task runner uploads the output: nothing else
could)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from relhelpers import failing, job_spec
from rigs import make_rig, worker_images

from batch_emulator.images import ImageStandIn
from superbatch.backends.azure.runnerapp import TOO_OLD_MARKER, build
from superbatch.taskrunner.fanout import usable_cpus

NO_PYTHON = "example.azurecr.io/nopython:v1"
OLD_PYTHON = "example.azurecr.io/oldpython:v1"
# The old image's `python`: refuses the task runner as the zipapp does under Python < 3.8
# (test_the_zipapp_refuses_a_python_older_than_3_8), and is the worker for anything else.
OLD_PYTHON_SCRIPT = """#!/bin/sh
if [ "$1" = taskrunner.pyz ]; then
  : > superbatch-python-too-old
  echo "superbatch: the task runner needs Python 3.8 or later; python is 3.6.15" >&2
  exit 2
fi
echo $(( $(tr -dc 0-9 < inputs.json) * 2 )) > outputs.json
"""
# What the shell loop and the task's own lines use, and no Python.
SHELL_TOOLS = ("sh", "rm", "base64", "od", "tr", "mv", "tar", "ln", "cp", "cat", "gzip")


def task_files(rig, job_id: str, task_id: str) -> set[str]:
    return {r.file_path for r in rig.client().get_task(job_id, task_id).resource_files}


def points_logs(rig) -> list[Path]:
    """The task runner's points.jsonl files left on the emulator's nodes."""
    return sorted((rig.root / "nodes").rglob("points.jsonl"))


def test_the_task_runner_is_uploaded_once_under_its_content_digest(rig):
    first = job_spec(rig.root, "first", 4, tasks="{points_per_task: 2, max_retries: 0}")
    done = rig.run("run", first, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 2, 4, 6]
    container = rig.container(f"rel{abs(hash(str(rig.root))) % 10**8}")
    shipped = [b for b in container.list_blobs(name_starts_with="code/")]
    assert [b.name for b in shipped] == [build().blob]
    data = container.download_blob(build().blob).readall()
    assert shipped[0].name == f"code/taskrunner-{hashlib.sha256(data).hexdigest()}.pyz"
    assert data == build().data
    etag = shipped[0].etag
    assert len(points_logs(rig)) == 2  # one task runner per task
    # The job stays after the run (cleanup would delete it, and the service forgets a
    # deleted job's tasks): its task's resource files are read below.
    second = job_spec(rig.root, "second", 1, extra="  cleanup: {job: false}\n")
    again = rig.run("run", second, "--backend", "azure", "--json")
    assert again.code == 0, again.stderr
    assert again.json["result"] == [0]
    blobs = list(container.list_blobs(name_starts_with="code/"))
    assert [(b.name, b.etag) for b in blobs] == [(build().blob, etag)]  # not uploaded again
    job_id = again.json["job_id"]
    assert task_files(rig, job_id, "task-00000") >= {"taskrunner.pyz", "config.pickle"}


def test_the_zipapp_is_the_same_bytes_from_the_same_files():
    build.cache_clear()
    one = build()
    build.cache_clear()
    assert build() == one


@pytest.fixture
def bare_rig(azurite, tmp_path):
    """A rig that also declares an image without Python (its PATH: shell tools only)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in SHELL_TOOLS:
        os.symlink(shutil.which(name, path="/usr/bin:/bin"), tools / name)
    old = tmp_path / "old"
    shutil.copytree(tools, old, symlinks=True)
    (old / "python").write_text(OLD_PYTHON_SCRIPT)
    (old / "python").chmod(0o755)
    images = worker_images(tmp_path / "worker")
    app = {"/app": str((tmp_path / "worker").resolve())}
    images[NO_PYTHON] = ImageStandIn(mounts=app, path=[str(tools)])
    images[OLD_PYTHON] = ImageStandIn(mounts=app, path=[str(old)])
    rig = make_rig(azurite, tmp_path, images=images)
    try:
        yield rig
    finally:
        rig.emulator.stop()


def bare_spec(
    rig, name: str, worker: str, points_per_task: int = 1, image: str = NO_PYTHON
) -> Path:
    tasks = f"{{points_per_task: {points_per_task}, max_retries: 0}}"
    # Jobs stay after their run: tests read their tasks' definitions from the service.
    spec = job_spec(rig.root, name, 3, tasks=tasks, extra="  cleanup: {job: false}\n")
    text = spec.read_text().replace("example.azurecr.io/w:v1", image)
    spec.write_text(text.replace("  command: python {worker_dir}/w.py\n", worker))
    return spec


SH_WORKER = "echo $(( $(tr -dc 0-9 < inputs.json) * 2 )) > outputs.json\n"


@pytest.mark.parametrize("points_per_task", [1, 3])
def test_a_shell_command_runs_the_loop_in_an_image_without_python(bare_rig, points_per_task):
    (bare_rig.root / "worker" / "w.sh").write_text(SH_WORKER)
    worker = "  command: sh {worker_dir}/w.sh\n  format: json\n"
    spec = bare_spec(bare_rig, f"shell{points_per_task}", worker, points_per_task)
    done = bare_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 2, 4]
    assert "taskrunner.pyz" not in task_files(bare_rig, done.json["job_id"], "task-00000")
    assert points_logs(bare_rig) == []  # no task runner ran


def test_a_python_command_in_an_image_without_python_fails_naming_the_image(bare_rig):
    spec = bare_spec(bare_rig, "nopy", "  command: python {worker_dir}/w.py\n")
    done = bare_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 1
    failure = bare_rig.run("status", spec, "--backend", "azure", "--json").json["failures"][0]
    assert failure["exit_code"] == 92
    assert (
        f"the task runner (it runs the command) needs Python 3.8 or later as python in "
        f"image {NO_PYTHON}" in failure["stderr_tail"]
    )


def test_a_function_in_an_image_without_python_fails_naming_the_image(bare_rig):
    (bare_rig.root / "worker" / "fn.py").write_text("def f(config, inputs):\n    return 1\n")
    spec = bare_spec(bare_rig, "nopyfn", "  function: fn:f\n")
    done = bare_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 1
    failure = bare_rig.run("status", spec, "--backend", "azure", "--json").json["failures"][0]
    assert failure["exit_code"] == 92
    assert (
        f"worker.function needs Python 3.8 or later as python3 in image {NO_PYTHON}"
        in failure["stderr_tail"]
    )


@pytest.mark.parametrize("points_per_task", [1, 3])
def test_a_python_older_than_the_task_runner_fails_the_task(bare_rig, points_per_task):
    """The old Python could run the worker, but nothing on the node could then upload."""
    worker = "  command: python {worker_dir}/w.py\n  format: json\n"
    spec = bare_spec(bare_rig, f"old{points_per_task}", worker, points_per_task, OLD_PYTHON)
    done = bare_rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 1
    failure = bare_rig.run("status", spec, "--backend", "azure", "--json").json["failures"][0]
    assert failure["exit_code"] == 92
    assert "the task runner needs Python 3.8 or later; python is 3.6.15" in failure["stderr_tail"]


def test_the_zipapp_refuses_a_python_older_than_3_8(tmp_path):
    """Its __main__ under a Python that says it is 3.7: a marker for the task's shell, a
    message, exit 2, and nothing of the task runner imported."""
    main = zipfile.ZipFile(io.BytesIO(build().data)).read("__main__.py").decode()
    pretend = (
        "import sys; sys.version_info = (3, 7, 9); exec(compile(sys.stdin.read(), 'main', 'exec'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", pretend], input=main, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "the task runner needs Python 3.8 or later" in done.stderr
    assert (tmp_path / TOO_OLD_MARKER).exists()


def failing_point_status(rig, spec: Path) -> tuple[dict, str]:
    """The failure `status --json` reports for the job of ``spec``, and status's text."""
    done = rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 1, done.stderr
    failures = rig.run("status", spec, "--backend", "azure", "--json").json["failures"]
    assert len(failures) == 1
    return failures[0], rig.run("status", spec, "--backend", "azure").stdout


def test_status_names_the_failing_point_of_a_task_the_task_runner_ran(rig):
    """Points 3, 4 and 5 in one task; point 4 fails: status names it, not the task's three."""
    worker = failing(rig.root / "never")
    spec = job_spec(rig.root, "midfail", 6, worker, tasks="{points_per_task: 3, max_retries: 0}")
    failure, text = failing_point_status(rig, spec)
    assert (failure["task_id"], failure["exit_code"]) == ("task-00001", 5)
    assert failure["point"] == 4 and failure["points"] == [{"x": 4}]
    assert "bad point 4" in failure["stderr_tail"]
    assert "superbatch: point 4 failed: the worker exited with code 5" in failure["stderr_tail"]
    assert '    failed point 4: {"x": 4}\n' in text


@pytest.mark.parametrize(
    "body, exit_code, why",
    [
        ("[ $x -ne 4 ] || { echo bad point $x >&2; exit 5; }\n", 5, "exited with code 5"),
        ("[ $x -ne 4 ] || exit 0\n", 90, "exited 0 but wrote no outputs.json"),
    ],
)
def test_status_names_the_failing_point_of_a_shell_loop(bare_rig, body, exit_code, why):
    script = "x=$(tr -dc 0-9 < inputs.json)\n" + body + "echo $((x * 2)) > outputs.json\n"
    (bare_rig.root / "worker" / "w.sh").write_text(script)
    worker = "  command: sh {worker_dir}/w.sh\n  format: json\n"
    spec = bare_spec(bare_rig, f"shfail{exit_code}", worker, points_per_task=3)
    spec.write_text(spec.read_text().replace("range: [3]", "range: [6]"))
    failure, text = failing_point_status(bare_rig, spec)
    assert (failure["task_id"], failure["exit_code"]) == ("task-00001", exit_code)
    assert failure["point"] == 4 and failure["points"] == [{"x": 4}]
    assert f"superbatch: point 4 failed: the worker {why}" in failure["stderr_tail"]
    assert '    failed point 4: {"x": 4}\n' in text


SHARING = (
    "import joblib, os, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(0.1)\n"
    "joblib.dump([x * 2, os.getppid(), os.getcwd()], 'outputs.pickle')\n"
)


@pytest.mark.skipif(usable_cpus() < 2, reason="the node's CPUs are this machine's")
@pytest.mark.parametrize("slots, at_once", [(1, 2), (2, 1)])
def test_a_task_runs_its_slots_share_of_the_nodes_cpus_worth_of_points_at_once(rig, slots, at_once):
    """The emulator's node has this machine's CPUs (2): one slot runs a task's points two at
    a time (in two processes, each its own directory), two slots one at a time each."""
    spec = job_spec(
        rig.root, f"share{slots}", 8, SHARING, tasks="{points_per_task: 8, max_retries: 0}"
    )
    spec.write_text(
        spec.read_text().replace(
            "dedicated_nodes: 2}", f"dedicated_nodes: 1, task_slots_per_node: {slots}}}"
        )
    )
    done = rig.run("run", spec, "--backend", "azure", "--json")
    assert done.code == 0, done.stderr
    result = done.json["result"]
    assert [value for value, _, _ in result] == [x * 2 for x in range(8)]
    assert len({sharer for _, sharer, _ in result}) == at_once
    if at_once > 1:
        assert {cwd.rsplit("/", 2)[-2] for _, _, cwd in result} == {"s0", "s1"}
