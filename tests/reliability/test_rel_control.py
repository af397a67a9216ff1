"""2. `retry`, `cancel` and `delete` on both backends: only failed tasks re-run, a cancelled job
ends, and delete removes exactly what its job created (never another job's data)."""

from __future__ import annotations

import json
import time

from clihelp import superbatch
from relhelpers import container_of, failing, job_ids, job_spec

SLEEPY = (
    "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(30)\n"
    "joblib.dump(x, 'outputs.pickle')\n"
)


def journal(spec, job_id) -> list[dict]:
    path = spec.parent / ".superbatch" / job_id / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_local_retry_reruns_only_failed_tasks(tmp_path):
    spec = job_spec(
        tmp_path,
        "lretry",
        10,
        worker=failing(tmp_path / "fixed"),
        tasks="{points_per_task: 3, max_retries: 0}",
    )
    first = superbatch("run", spec)
    assert first.code == 1 and "4, 5)" in first.stderr and "task-00001" in first.stderr
    job_id = job_ids(spec)[0]
    (tmp_path / "fixed").touch()
    retried = superbatch("retry", spec, "--json")
    assert retried.code == 0 and retried.json["requeued"] == ["task-00001"]
    result = superbatch("collect", spec, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [x * 2 for x in range(10)]
    runs = [e["task"] for e in journal(spec, job_id) if e["state"] == "running"]
    assert sorted(runs) == ["task-00000", "task-00001", "task-00001", "task-00002", "task-00003"]


def test_local_cancel_stops_the_runner(tmp_path):
    from superbatch.backends.local.runnerproc import runner_alive
    from superbatch.jobs.state import JobState

    spec = job_spec(tmp_path, "lcancel", 4, worker=SLEEPY)
    submitted = superbatch("submit", spec, "--parallel", "2", "--json")
    assert submitted.code == 0, submitted.stderr
    state = JobState(spec.parent / ".superbatch", submitted.json["job_id"])
    deadline = time.monotonic() + 20
    while not runner_alive(state) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner_alive(state)
    cancelled = superbatch("cancel", spec)
    assert cancelled.code == 0, cancelled.stderr
    assert not runner_alive(state)
    status = superbatch("status", spec, "--json").json
    assert status["job_state"] == "terminated" and status["running"] == 0
    collected = superbatch("collect", spec, "--wait", "--timeout", "5")
    assert collected.code == 1  # stopped: nothing more will come, outputs are missing
    assert superbatch("delete", spec, "--yes").code == 0
    assert job_ids(spec) == []


def test_azure_cancel_ends_the_batch_job(rig):
    spec = job_spec(rig.root, "acancel", 4, worker=SLEEPY)
    submitted = rig.run("submit", spec, "--backend", "azure", "--json")
    assert submitted.code == 0, submitted.stderr
    job_id = submitted.json["job_id"]
    cancelled = rig.run("cancel", spec, "--backend", "azure")
    assert cancelled.code == 0, cancelled.stderr
    deadline = time.monotonic() + 20
    while rig.client().get_job(job_id).state not in ("completed",) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rig.client().get_job(job_id).state == "completed"
    status = rig.run("status", spec, "--backend", "azure", "--json").json
    assert status["job_state"] == "terminated" and status["running"] == 0
    assert rig.run("cancel", spec, "--backend", "azure").code == 0  # twice is fine


def test_azure_delete_removes_one_job_and_never_another(rig):
    container = None
    specs = []
    for name in ("first", "second"):
        spec = job_spec(
            rig.root, name, 3, container="shared-jobs", extra="  cleanup: {job: false}\n"
        )
        spec.write_text(
            spec.read_text().replace("reduce: list}", f"reduce: list, output: {name}.json}}")
        )
        assert rig.run("run", spec, "--backend", "azure").code == 0
        specs.append(spec)
    container = rig.container(container_of(specs[0]))
    first, second = (job_ids(s)[0] for s in specs)
    before = {b.name for b in container.list_blobs(name_starts_with=second + "/")}
    assert before
    deleted = rig.run("delete", specs[0], "--backend", "azure", "--yes", "--json")
    assert deleted.code == 0, deleted.stderr
    assert not list(container.list_blobs(name_starts_with=first + "/"))
    assert {b.name for b in container.list_blobs(name_starts_with=second + "/")} == before
    assert job_ids(specs[0]) == [] and job_ids(specs[1]) == [second]
    jobs = {j.id: j.state for j in rig.client().list_jobs()}
    assert jobs.get(first, "deleting") == "deleting" and jobs[second] != "deleting"
    assert rig.client().get_pool("relpool")  # the pool stays without --pool
    assert (rig.root / "first.json").exists() and (rig.root / "second.json").exists()
    again = rig.run("collect", specs[1], "--backend", "azure", "--json")
    assert again.code == 0 and again.json["result"] == [0, 2, 4]
    with_pool = rig.run("delete", specs[1], "--backend", "azure", "--yes", "--pool", "--json")
    assert with_pool.code == 0 and "pool relpool" in with_pool.json["deleted"]
    # All that stays is what jobs share by content (docs/azure.md: not deleted with a job).
    assert [b.name for b in container.list_blobs()] == [
        b.name for b in container.list_blobs(name_starts_with="code/taskrunner-")
    ]


def test_azure_delete_with_the_pool_then_run_again_at_once(rig_factory):
    """The service keeps a deleted pool and job 'deleting' for a while (409 PoolBeingDeleted to
    a create meanwhile): running the same spec right after `delete --pool` waits for the old
    pool to go, creates it again, and gets the result."""
    rig = rig_factory(delete_delay=2.0)
    spec = job_spec(rig.root, "again", 3)
    assert rig.run("run", spec, "--backend", "azure").code == 0
    deleted = rig.run("delete", spec, "--backend", "azure", "--yes", "--pool", "--json")
    assert deleted.code == 0 and "pool relpool" in deleted.json["deleted"]
    assert rig.client().get_pool("relpool").state == "deleting"
    result = rig.run("run", spec, "--backend", "azure", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 2, 4]
    assert rig.client().get_pool("relpool").state == "active"
