"""4. Failed tasks and outputs: `status` names them (exit code, stderr tail); `collect` exits 1
naming the missing outputs unless --allow-missing; downloads are checked and resumable."""

from __future__ import annotations

import json

from relhelpers import failing as failing_worker
from relhelpers import job_ids, job_spec


def failing(rig):
    return job_spec(
        rig.root,
        "fails",
        10,
        worker=failing_worker(rig.root / "fixed"),
        tasks="{points_per_task: 3, max_retries: 1}",
    )


def test_failed_tasks_status_collect_allow_missing_and_retry(rig):
    spec = failing(rig)
    first = rig.run("run", spec, "--backend", "azure")
    assert first.code == 1
    assert "3 of 10 outputs are missing (points 3, 4, 5)" in first.stderr
    assert "--allow-missing" in first.stderr and "superbatch retry" in first.stderr
    status = rig.run("status", spec, "--backend", "azure")
    assert status.code == 1
    assert "failed task-00001 (exit code 5)" in status.stdout and "| bad point 4" in status.stdout
    collect = rig.run("collect", spec, "--backend", "azure", "--json")
    assert collect.code == 1 and collect.json["missing_points"] == [3, 4, 5]
    partial = rig.run("collect", spec, "--backend", "azure", "--allow-missing", "--json")
    assert partial.code == 0, partial.stderr
    assert partial.json["result"] == [0, 2, 4, 12, 14, 16, 18]
    assert partial.json["missing"] == 3 and "3 of 10 outputs are missing" in partial.stderr
    # retry re-runs only the failed task, in a new Batch job; collect is then complete
    (rig.root / "fixed").touch()
    retried = rig.run("retry", spec, "--backend", "azure", "--json")
    assert retried.code == 0 and retried.json["requeued"] == ["task-00001"]
    job_id = job_ids(spec)[0]
    retry_tasks = [t.id for t in rig.client().list_tasks(f"{job_id}-r1", select=["id"])]
    assert retry_tasks == ["task-00001"]
    result = rig.run("collect", spec, "--backend", "azure", "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [x * 2 for x in range(10)]
    again = rig.run("retry", spec, "--backend", "azure", "--json")
    assert again.code == 0 and again.json["requeued"] == []


def test_collect_keeps_verified_local_copies_and_fetches_deleted_ones(rig):
    spec = job_spec(rig.root, "fetch", 6, extra="  cleanup: {job: false}\n")
    assert rig.run("run", spec, "--backend", "azure").code == 0
    job_id = job_ids(spec)[0]
    outputs = spec.parent / ".superbatch" / job_id / "outputs"
    record = json.loads((outputs.parent / "record.json").read_text())
    container = rig.container(record["target"]["job_container"])
    # A verified local copy is final: damaged here, it is not silently replaced by the
    # blob; collect names it, and deleting it fetches (and checks) the blob again.
    damaged = outputs / "task_1_outputs.pickle"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    again = rig.run("collect", spec, "--backend", "azure", "--json")
    assert again.code == 1 and "point 1" in again.stderr and "delete" in again.stderr
    damaged.unlink()
    fetched = rig.run("collect", spec, "--backend", "azure", "--json")
    assert fetched.code == 0, fetched.stderr
    assert fetched.json["result"] == [x * 2 for x in range(6)]
    # the blobs are gone: collect still succeeds from the local copies (no download needed)
    for blob in container.list_blobs(name_starts_with="out/"):
        container.delete_blob(blob.name)
    local = rig.run("collect", spec, "--backend", "azure", "--json")
    assert local.code == 0, local.stderr
    assert local.json["result"] == [x * 2 for x in range(6)]
    # a local copy lost with its blob is a missing output (exit 1), named
    (outputs / "task_5_outputs.pickle").unlink()
    lost = rig.run("collect", spec, "--backend", "azure")
    assert lost.code == 1 and "(points 5)" in lost.stderr


def test_no_partial_output_files(rig):
    spec = job_spec(rig.root, "atomic", 4)
    assert rig.run("run", spec, "--backend", "azure").code == 0
    outputs = spec.parent / ".superbatch" / job_ids(spec)[0] / "outputs"
    assert sorted(p.name for p in outputs.iterdir()) == [
        f"task_{i}_outputs.pickle" for i in range(4)
    ]
