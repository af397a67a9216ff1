"""A local multi-point task's outputs are one file, ``outputs/<task-id>.tar`` (the archive an
Azure task uploads), written whole once every point succeeded; one-point tasks keep a file
per point. Everything that reads outputs reads them from there: collect's reductions,
``reduce: none`` (a file per point), ``reduce: table``, the report and ``superbatch.map``.
The inputs of a task are one gzip-compressed tar."""

from __future__ import annotations

import csv
import gzip
import io
import tarfile

import joblib
import pytest
from clihelp import superbatch, write_spec

SCRIPT = "import joblib\njoblib.dump(joblib.load('inputs.pickle')['x'] ** 2, 'outputs.pickle')\n"
FUNCTION = "def square(config, inputs):\n    return inputs['x'] ** 2\n"
WORKERS = {
    "point": "worker: {command: 'python {worker_dir}/w.py'}\n",
    "task": "worker: {command: 'python {worker_dir}/w.py', isolation: task}\n",
    "function-point": "worker: {function: 'w:square'}\n",
    "function-task": "worker: {function: 'w:square', isolation: task}\n",
}
TARS = ["task-00000.tar", "task-00001.tar", "task-00002.tar"]


def job(tmp_path, worker: str, reduce: str = "list", points_per_task: int = 4):
    (tmp_path / "w.py").write_text(FUNCTION if worker.startswith("function") else SCRIPT)
    return write_spec(
        tmp_path,
        f"name: tt\n{WORKERS[worker]}parameters: {{x: {{range: [10]}}}}\n"
        f"tasks: {{points_per_task: {points_per_task}}}\ncollect: {{reduce: {reduce}}}\n",
    )


def state_of(tmp_path):
    return next((tmp_path / ".superbatch").glob("tt-*/"))


def files_under(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_a_finished_multi_point_job_holds_one_tar_per_task(tmp_path, worker):
    spec = job(tmp_path, worker)
    result = superbatch("run", spec, "--json", "--parallel", "2")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [x * x for x in range(10)]
    state = state_of(tmp_path)
    assert files_under(state / "outputs") == TARS
    data = (state / "outputs" / "task-00002.tar").read_bytes()
    assert data[257:263] == b"ustar\x00"  # plain ustar, as an Azure task's upload
    with tarfile.open(state / "outputs" / "task-00002.tar") as tar:
        assert tar.getnames() == ["p8/outputs.pickle", "p9/outputs.pickle"]
    assert not list((state / "tasks").rglob("staged"))


def test_reduce_none_table_and_report_read_the_task_tars(tmp_path):
    spec = job(tmp_path, "task", reduce="table, output: t.csv")
    assert superbatch("run", spec, "--parallel", "2").code == 0
    with open(tmp_path / "t.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["x"], r["task_id"], r["value"]) for r in rows][-2:] == [
        ("8", "task-00002", "64"),
        ("9", "task-00002", "81"),
    ]
    assert files_under(state_of(tmp_path) / "outputs") == TARS
    page = tmp_path.parent / f"{tmp_path.name}-report.html"  # not among the worker's files
    assert superbatch("report", spec, "-o", page).code == 0
    html = page.read_text()
    assert "task-00002" in html and "(missing)" not in html
    none = job(tmp_path, "task", reduce="none")
    result = superbatch("collect", none, "--json")
    assert result.code == 0, result.stderr
    outputs = state_of(tmp_path) / "outputs"
    per_point = sorted(p.name for p in outputs.glob("task_*_outputs.pickle"))
    assert per_point == sorted(f"task_{i}_outputs.pickle" for i in range(10))
    assert joblib.load(outputs / "task_9_outputs.pickle") == 81


def test_one_point_tasks_keep_a_file_per_point(tmp_path):
    spec = job(tmp_path, "point", points_per_task=1)
    result = superbatch("run", spec, "--json")
    assert result.code == 0 and result.json["result"] == [x * x for x in range(10)]
    outputs = files_under(state_of(tmp_path) / "outputs")
    assert outputs == sorted(f"task_{i}_outputs.pickle" for i in range(10))


def test_a_failed_task_leaves_no_tar_and_a_retry_writes_it(tmp_path):
    fixed = tmp_path.parent / f"{tmp_path.name}-fixed"  # not among the worker's files
    (tmp_path / "w.py").write_text(
        "import joblib, os, sys\nx = joblib.load('inputs.pickle')['x']\n"
        f"if x == 5 and not os.path.exists({str(fixed)!r}):\n    sys.exit(3)\n"
        "joblib.dump(x * x, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: tt\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: {range: [10]}}\ntasks: {points_per_task: 4}\ncollect: {reduce: list}\n",
    )
    assert superbatch("run", spec).code == 1
    outputs = state_of(tmp_path) / "outputs"
    assert files_under(outputs) == ["task-00000.tar", "task-00002.tar"]  # nothing of task 1
    partial = superbatch("collect", spec, "--allow-missing", "--json")
    assert partial.json["result"] == [0, 1, 4, 9, 64, 81] and partial.json["missing"] == 4
    fixed.touch()
    assert superbatch("retry", spec).code == 0
    result = superbatch("collect", spec, "--wait", "--json")
    assert result.code == 0 and result.json["result"] == [x * x for x in range(10)]
    assert files_under(outputs) == TARS


def test_the_inputs_of_a_task_are_one_compressed_tar(tmp_path):
    spec = job(tmp_path, "task")
    assert superbatch("submit", spec).code == 0
    inputs = state_of(tmp_path) / "inputs"
    data = (inputs / "task-00000.tar").read_bytes()
    assert data[:2] == b"\x1f\x8b"  # gzip: a ustar of 4 points would be 5 KB
    assert len(data) < 600
    names = tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))).getnames()
    assert names == [f"p{i}/inputs.pickle" for i in range(4)]


def test_a_job_whose_tasks_left_a_file_per_point_still_collects(tmp_path):
    """Tasks of several points run by an earlier superbatch left a file per point."""
    spec = job(tmp_path, "task")
    assert superbatch("run", spec).code == 0
    outputs = state_of(tmp_path) / "outputs"
    with tarfile.open(outputs / "task-00001.tar") as tar:
        for member in tar:
            point = int(member.name.split("/")[0][1:])
            (outputs / f"task_{point}_outputs.pickle").write_bytes(tar.extractfile(member).read())
    (outputs / "task-00001.tar").unlink()
    result = superbatch("collect", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [x * x for x in range(10)]
