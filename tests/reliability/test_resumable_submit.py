"""1. `submit` is idempotent and resumable: SIGKILL at any point, run it again, and every task
exists exactly once, finished chunks are not re-sent, the job id stays; `--new` starts afresh."""

from __future__ import annotations

import json
import threading
import time

from clihelp import superbatch
from relhelpers import container_of, job_ids, job_spec, kill_after, progress, start

POINTS = 1500


def progress_chunks(spec, job_id) -> set[int]:
    path = spec.parent / ".superbatch" / job_id / "azure_submit.jsonl"
    chunks = set()
    for line in filter(None, path.read_text().splitlines() if path.exists() else []):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry.get("tasks"), list) and entry.get("job") == job_id:
            chunks.update(index // 100 for index in entry["tasks"])
    return chunks


def requests_log():
    """An ``on_request`` hook recording the task ids of every add-collection request."""
    added: list[list[str]] = []
    lock = threading.Lock()

    def on_request(method, path, body):
        if method == "POST" and path.endswith("/addtaskcollection"):
            with lock:
                added.append([t["id"] for t in body["value"]])

    return added, on_request


def chunk_of(request_ids: list[str]) -> int:
    return int(request_ids[0][len("task-") :]) // 100


def test_azure_submit_killed_at_several_points_resumes_exactly_once(rig_factory):
    added, on_request = requests_log()
    rig = rig_factory(run_tasks=False, on_request=on_request)
    spec = job_spec(rig.root, "resume", POINTS)
    seen = []
    for seconds in (0.2, 0.5, 1.0, 1.3, 1.6):
        kill_after(["submit", spec, "--backend", "azure"], seconds, rig.env)
        ids = job_ids(spec)
        assert len(ids) <= 1, ids  # every resumed attempt kept the job id
        seen.append(ids and len(progress_chunks(spec, ids[0])))
    before = progress_chunks(spec, ids[0]) if ids else set()
    added.clear()
    final = rig.run("submit", spec, "--backend", "azure", "--json")
    assert final.code == 0, final.stderr
    job_id = final.json["job_id"]
    assert job_ids(spec) == [job_id] and (not ids or ids[0] == job_id)
    assert progress(spec, job_id)["submit_state"] == "submitted"
    tasks = [t.id for t in rig.client().list_tasks(job_id, select=["id"])]
    assert len(tasks) == len(set(tasks)) == POINTS
    assert set(tasks) == {f"task-{i:05d}" for i in range(POINTS)}
    resent = {chunk_of(r) for r in added}
    assert not resent & before, (seen, sorted(resent), sorted(before))
    assert progress_chunks(spec, job_id) == set(range(POINTS // 100))
    # again: nothing to do, nothing re-sent
    added.clear()
    again = rig.run("submit", spec, "--backend", "azure", "--json")
    assert again.code == 0 and again.json["already_submitted"] and again.json["job_id"] == job_id
    assert added == []
    # --new: a fresh job with its own id, every task once
    new = rig.run("submit", spec, "--backend", "azure", "--new", "--json")
    assert new.code == 0, new.stderr
    assert new.json["job_id"] != job_id and len(job_ids(spec)) == 2
    assert len(list(rig.client().list_tasks(new.json["job_id"], select=["id"]))) == POINTS


def test_resumed_submit_does_not_upload_finished_chunks_again(rig_factory):
    added, on_request = requests_log()
    rig = rig_factory(run_tasks=False, on_request=on_request)
    spec = job_spec(rig.root, "reupload", 400, extra="  inline_inputs: false\n")
    container = rig.container(container_of(spec))
    # SIGKILL as soon as the first chunk is recorded (inputs uploaded, tasks added)
    proc = start(["submit", spec, "--backend", "azure"], rig.env)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        ids = job_ids(spec)
        if ids and progress_chunks(spec, ids[0]):
            proc.kill()
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    job_id = job_ids(spec)[0]
    before = progress_chunks(spec, job_id)
    assert before and before != set(range(4)), before
    uploaded = {
        b.name: b.last_modified for b in container.list_blobs(name_starts_with=job_id + "/inputs/")
    }
    added.clear()
    time.sleep(1.1)  # blob times have a one-second resolution
    final = rig.run("submit", spec, "--backend", "azure", "--json")
    assert final.code == 0 and final.json["resumed"] and final.json["job_id"] == job_id
    assert not {chunk_of(r) for r in added} & before
    blobs = list(container.list_blobs(name_starts_with=job_id + "/inputs/"))
    assert len(blobs) == 400
    for blob in blobs:
        if int(blob.name.rsplit("-", 1)[1]) // 100 in before:
            assert blob.last_modified == uploaded[blob.name], blob.name
    tasks = [t.id for t in rig.client().list_tasks(job_id, select=["id"])]
    assert sorted(tasks) == [f"task-{i:05d}" for i in range(400)]


def test_changed_spec_with_unfinished_submission_is_refused(rig_factory):
    rig = rig_factory(run_tasks=False)
    spec = job_spec(rig.root, "changed", 300)
    kill_after(["submit", spec, "--backend", "azure"], 0.2, rig.env)
    first = rig.run("submit", spec, "--backend", "azure")
    assert first.code == 0, first.stderr  # resumed or fresh; the job's tasks never run
    spec.write_text(spec.read_text().replace("range: [300]", "range: [301]"))
    changed = rig.run("submit", spec, "--backend", "azure")
    assert changed.code == 2, changed
    assert "--new" in changed.stderr and "Traceback" not in changed.stderr
    assert len(job_ids(spec)) == 1
    fresh = rig.run("submit", spec, "--backend", "azure", "--new", "--json")
    assert fresh.code == 0 and len(job_ids(spec)) == 2


def test_local_submit_killed_at_several_points_runs_every_task_once(tmp_path):
    points = 600
    spec = job_spec(
        tmp_path, "localresume", points, worker="", tasks="{points_per_task: 50, max_retries: 0}"
    )
    spec.write_text(
        spec.read_text().replace("python {worker_dir}/w.py", "cp inputs.pickle outputs.pickle")
    )
    for seconds in (0.2, 0.4, 0.7):
        kill_after(["submit", spec], seconds, {})
    ids = job_ids(spec)
    assert len(ids) <= 1
    final = superbatch("submit", spec, "--json")
    assert final.code == 0, final.stderr
    job_id = final.json["job_id"]
    assert not ids or ids == [job_id]
    collected = superbatch("collect", spec, "--wait", "--json", timeout=120)
    assert collected.code == 0, collected.stderr
    assert collected.json["result"] == [{"x": i} for i in range(points)]
    state = spec.parent / ".superbatch" / job_id
    written = [p.name for p in (state / "inputs").iterdir() if not p.name.startswith(".")]
    # One inputs tar per task, + config (a kill mid-write may leave a hidden .tmp).
    assert sorted(written) == ["config.pickle"] + [f"task-{i:05d}.tar" for i in range(12)]
    completions = [
        json.loads(line)
        for line in (state / "journal.jsonl").read_text().splitlines()
        if '"completed"' in line
    ]
    assert sorted(c["task"] for c in completions) == [f"task-{i:05d}" for i in range(12)]
