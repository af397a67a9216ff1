"""Issue 22 (items 1, 7, 8): a local job runs the worker's files it was submitted with (a
content-addressed copy in the state directory), retries included; the copy is shared by jobs
of equal files and goes with the last of them; a task past its wall time is not retried."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from clihelp import superbatch, write_spec

# Sums x + OFFSET over the points; each point takes a moment, so the worker can be edited
# while the job runs. OFFSET comes from a module of the worker's own (the fork server
# imports those afresh for every point).
WORKER = (
    "import joblib, time\nfrom offset import OFFSET\n"
    "x = joblib.load('inputs.pickle')['x']\ntime.sleep(0.3)\n"
    "joblib.dump(x + OFFSET + 2, 'outputs.pickle')\n"
)


def job(root: Path, name: str = "snap", points: int = 6, tasks: str = "{}") -> Path:
    (root / "worker").mkdir(parents=True, exist_ok=True)
    (root / "worker" / "w.py").write_text(WORKER)
    (root / "worker" / "offset.py").write_text("OFFSET = 0\n")
    return write_spec(
        root,
        f"name: {name}\nworker: {{command: 'python {{worker_dir}}/w.py', directory: worker}}\n"
        f"parameters: {{x: {{range: [{points}]}}}}\ntasks: {tasks}\ncollect: {{reduce: sum}}\n",
        name=f"{name}.yaml",
    )


def edit_worker(root: Path) -> None:
    """The edit of the issue: `+ 2` becomes `+ 1000`, and the helper module changes too."""
    w = root / "worker" / "w.py"
    w.write_text(w.read_text().replace("+ 2,", "+ 1000,"))
    (root / "worker" / "offset.py").write_text("OFFSET = 50000\n")


def completed(state: Path, job_id: str) -> int:
    journal = state / job_id / "journal.jsonl"
    if not journal.exists():
        return 0
    lines = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return sum(1 for e in lines if e.get("state") == "completed")


def test_editing_the_worker_while_the_job_runs_changes_nothing(tmp_path):
    spec = job(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("SUPERBATCH_STATE_DIR",)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", str(spec), "--new", "--parallel", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    state = tmp_path / ".superbatch"
    deadline = time.monotonic() + 60
    while True:
        ids = [p.parent.name for p in state.glob("snap-*/record.json")]
        if ids and completed(state, ids[0]) >= 1:
            break
        assert proc.poll() is None and time.monotonic() < deadline, "no task finished"
        time.sleep(0.05)
    edit_worker(tmp_path)  # after the first point, before the last
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert completed(state, ids[0]) == 6  # the edit came while the job ran
    submitted = sum(x + 2 for x in range(6))  # 27; the edited worker gives 300015
    assert out.strip().splitlines()[-1] == str(submitted)
    again = superbatch("collect", spec, "--job-id", ids[0], "--json")
    assert again.code == 0 and again.json["result"] == submitted
    assert "ran some tasks" not in again.stderr
    # The edited worker is a new computation: `run` computes it.
    edited = superbatch("run", spec, "--json")
    assert edited.code == 0 and edited.json["result"] == sum(x + 51000 for x in range(6))


def test_a_retry_after_an_edit_runs_what_was_submitted_and_says_so(tmp_path):
    fixed = tmp_path.parent / f"{tmp_path.name}-fixed"  # outside the worker's files
    spec = job(tmp_path, "retried", 4, "{max_retries: 0}")
    w = tmp_path / "worker" / "w.py"
    w.write_text(
        w.read_text().replace(
            "time.sleep(0.3)\n", f"import os\nassert x != 2 or os.path.exists({str(fixed)!r})\n"
        )
    )
    first = superbatch("run", spec, "--json")
    assert first.code == 1
    job_id = first.json.get("job_id") or next(
        p.parent.name for p in (tmp_path / ".superbatch").glob("retried-*/record.json")
    )
    edit_worker(tmp_path)
    fixed.touch()
    retried = superbatch("retry", spec, "--job-id", job_id)
    assert retried.code == 0, retried.stderr
    assert "changed: offset.py, w.py" in retried.stderr
    assert "the retried tasks run what was submitted with the job" in retried.stderr
    assert "submit again" in retried.stderr
    result = superbatch("collect", spec, "--job-id", job_id, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == sum(x + 2 for x in range(4))
    assert "ran some tasks" not in result.stderr
    # Without --job-id, collect answers for the spec as it is now: another computation.
    now = superbatch("collect", spec)
    assert now.code == 2 and f"--job-id {job_id}" in now.stderr


def test_a_task_past_its_wall_time_is_not_retried(tmp_path):
    runs = tmp_path.parent / f"{tmp_path.name}-runs.log"
    (tmp_path / "w.py").write_text(
        f"import time\nopen({str(runs)!r}, 'a').write('run\\n')\ntime.sleep(30)\n"
    )
    spec = write_spec(
        tmp_path,
        "name: wall\nworker: {command: 'python {worker_dir}/w.py'}\nparameters: {x: [1]}\n"
        "tasks: {max_wall_time: 1s, max_retries: 1}\n",
    )
    started = time.monotonic()
    assert superbatch("run", spec).code == 1
    assert time.monotonic() - started < 20
    failure = superbatch("status", spec, "--json").json["failures"][0]
    assert failure["code"] == "MaxWallClockTimeExceeded"
    assert runs.read_text().split() == ["run"]  # one attempt, as Azure Batch does


def test_a_nonzero_exit_is_still_retried(tmp_path):
    runs = tmp_path.parent / f"{tmp_path.name}-runs.log"
    (tmp_path / "w.py").write_text(
        f"open({str(runs)!r}, 'a').write('run\\n')\nraise SystemExit(3)\n"
    )
    spec = write_spec(
        tmp_path,
        "name: again\nworker: {command: 'python {worker_dir}/w.py'}\nparameters: {x: [1]}\n"
        "tasks: {max_wall_time: 30s, max_retries: 2}\n",
    )
    assert superbatch("run", spec).code == 1
    assert runs.read_text().split() == ["run"] * 3


def snapshots(root: Path) -> list[str]:
    store = root / ".superbatch" / "code"
    return sorted(p.name for p in store.iterdir()) if store.is_dir() else []


def test_equal_files_share_one_copy_which_goes_with_the_last_job(tmp_path):
    one = job(tmp_path, "one", 2)
    two = write_spec(tmp_path, one.read_text().replace("name: one", "name: two"), "two.yaml")
    first, second = superbatch("run", one, "--json"), superbatch("run", two, "--json")
    assert first.code == second.code == 0
    assert first.json["result"] == second.json["result"] == 5
    kept = snapshots(tmp_path)
    assert len(kept) == 1
    records = [json.loads(p.read_text()) for p in (tmp_path / ".superbatch").glob("*/record.json")]
    assert {r["code"] for r in records} == set(kept)
    copy = tmp_path / ".superbatch" / "code" / kept[0]
    assert sorted(p.name for p in copy.iterdir() if p.is_file()) == ["offset.py", "w.py"]
    assert (copy / "w.py").read_text() == WORKER  # a copy (not a link): the edit stays out
    assert (copy / "w.py").stat().st_ino != (tmp_path / "worker" / "w.py").stat().st_ino
    assert not os.stat(copy / "w.py").st_mode & 0o222  # read-only
    # A changed worker gets a copy of its own.
    edit_worker(tmp_path)
    third = superbatch("run", one, "--json")
    assert third.code == 0 and len(snapshots(tmp_path)) == 2
    deleted = superbatch("delete", one, "--job-id", first.json["job_id"], "--yes", "--json")
    assert deleted.code == 0 and len(snapshots(tmp_path)) == 2  # job two still runs it
    gone = superbatch("delete", two, "--yes", "--json")
    assert gone.code == 0
    assert snapshots(tmp_path) == [
        json.loads(next((tmp_path / ".superbatch").glob("one-*/record.json")).read_text())["code"]
    ]
    assert any(item.startswith("worker snapshot ") for item in gone.json["deleted"])
    time.sleep(1.1)
    pruned = superbatch("prune", "--older-than", "1s", "--yes", cwd=tmp_path)
    assert pruned.code == 0, pruned.stderr
    assert snapshots(tmp_path) == []


def test_a_job_whose_copy_was_removed_says_so(tmp_path):
    fixed = tmp_path.parent / f"{tmp_path.name}-fixed"
    spec = job(tmp_path, "lost", 2, "{max_retries: 0}")
    w = tmp_path / "worker" / "w.py"
    w.write_text(
        w.read_text().replace(
            "time.sleep(0.3)\n", f"assert __import__('os').path.exists({str(fixed)!r})\n"
        )
    )
    assert superbatch("run", spec).code == 1
    shutil.rmtree(tmp_path / ".superbatch" / "code")
    fixed.touch()
    assert superbatch("retry", spec).code == 0
    result = superbatch("collect", spec, "--wait")
    assert result.code == 3
    assert "the copy of the worker's files" in result.stderr and "--new" in result.stderr
