"""Issue 9 on the azure backend (Azurite + the project's emulator): every task added or the
command fails, a leaked task definition can neither change results unnoticed nor run code on
the collecting machine, retry after cancel, no credentials in state."""

from __future__ import annotations

import json
import os
import pickle
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from relhelpers import job_ids, job_spec, leaked_output

AZURE = ("--backend", "azure")


def record_of(spec, job_id):
    return json.loads((spec.parent / ".superbatch" / job_id / "record.json").read_text())


def wait_done(rig, spec, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = rig.run("status", spec, *AZURE, "--json").json
        if status["done"]:
            return status
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


def test_no_task_is_dropped_when_the_service_refuses_large_bodies(rig_factory, monkeypatch):
    from batch_emulator import rules

    # A service stricter than the client's own estimate: every chunk gets split, and every
    # half of every split must still arrive.
    monkeypatch.setattr(rules, "MAX_BODY_BYTES", 20_000)
    rig = rig_factory(run_tasks=False)
    spec = job_spec(rig.root, "split", 1000, tasks="{points_per_task: 1, max_retries: 0}")
    result = rig.run("submit", spec, *AZURE, "--json")
    assert result.code == 0, result.stderr
    job_id = result.json["job_id"]
    tasks = [t.id for t in rig.client().list_tasks(job_id, select=["id"])]
    assert sorted(tasks) == [f"task-{i:05d}" for i in range(1000)]


def test_lost_tasks_are_reported_and_submit_adds_them(rig_factory):
    rig = rig_factory(run_tasks=False)
    spec = job_spec(rig.root, "lost", 300)
    job_id = rig.run("submit", spec, *AZURE, "--json").json["job_id"]
    client = rig.client()
    for task_id in ("task-00007", "task-00150", "task-00299"):
        client.delete_task(job_id, task_id)
    status = rig.run("status", spec, *AZURE, "--json")
    assert status.code == 1 and status.json["missing"] == 3 and not status.json["done"]
    assert any("superbatch submit" in n for n in status.json["notes"])
    again = rig.run("submit", spec, *AZURE, "--json")
    assert again.code == 0 and again.json["job_id"] == job_id and again.json["resumed"]
    assert len(list(client.list_tasks(job_id, select=["id"]))) == 300
    assert rig.run("status", spec, *AZURE, "--json").json["missing"] == 0


def test_tasks_lost_from_a_finished_job_run_in_another_batch_job(rig):
    spec = job_spec(rig.root, "gone", 4, extra="  cleanup: {job: false}\n")
    job_id = rig.run("submit", spec, *AZURE, "--json").json["job_id"]
    wait_done(rig, spec)
    rig.client().delete_task(job_id, "task-00002")
    assert rig.run("collect", spec, *AZURE).code == 1  # its output is gone with it? no: missing
    again = rig.run("submit", spec, *AZURE)
    assert again.code == 0 and "lacked 1 task" in again.stderr
    result = rig.run("collect", spec, *AZURE, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 2, 4, 6]


class Planted:
    """What an attacker uploads: unpickling it would create a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_leaked_task_definition_can_neither_change_results_nor_run_code(rig, tmp_path):
    victim = job_spec(
        rig.root, "victim", 4, extra="  cleanup: {job: false}\n", container="shared-jobs"
    )
    other = job_spec(
        rig.root, "other", 2, extra="  cleanup: {job: false}\n", container="shared-jobs"
    )
    victim_id = rig.run("submit", victim, *AZURE, "--json").json["job_id"]
    other_id = rig.run("submit", other, *AZURE, "--json").json["job_id"]
    wait_done(rig, victim)
    wait_done(rig, other)
    # Anyone who can read a task's definition holds its output SAS.
    task = rig.client().get_task(victim_id, "task-00002")
    leaked, path = leaked_output(task)
    marker = tmp_path / "planted-code-ran"
    planted = pickle.dumps(Planted(marker))
    # Another job's outputs are out of its reach (another container).
    other_container = record_of(other, other_id)["target"]["job_container"]
    foreign = leaked.split("?")[0].rsplit("/", 1)[0] + f"/{other_container}?" + leaked.split("?")[1]
    with pytest.raises(HttpResponseError):
        ContainerClient.from_container_url(foreign).upload_blob(
            "out/task-00000", planted, overwrite=True
        )
    # Its own job's container can be written while the job lives, but only beside an
    # output (whose name no definition reveals), which makes that output unusable.
    time.sleep(3)  # later than the task's end, past the clock tolerance
    ContainerClient.from_container_url(leaked).upload_blob(
        f"{path}/superbatch-output.{'0' * 32}", planted, overwrite=True
    )
    # Someone who learned an output's name elsewhere (the task's files on its node) and
    # overwrites it after its task ended is refused too.
    container = rig.container(record_of(victim, victim_id)["target"]["job_container"])
    real = next(b.name for b in container.list_blobs(name_starts_with="out/task-00003/"))
    ContainerClient.from_container_url(leaked).upload_blob(real, planted, overwrite=True)
    result = rig.run("collect", victim, *AZURE, "--json")
    assert result.code == 1, result
    assert "task-00002 (1 blob written beside its output)" in result.stderr
    assert "task-00003 (written after its task ended" in result.stderr
    assert "superbatch retry" in result.stderr
    assert result.json["ok"] is False
    assert not marker.exists()
    # collect revoked the tasks' write access when it found the job over
    with pytest.raises(HttpResponseError):
        ContainerClient.from_container_url(leaked).upload_blob(
            "out/task-00001/x", planted, overwrite=True
        )
    assert rig.run("collect", other, *AZURE, "--json").json["result"] == [0, 2]


@pytest.mark.parametrize("planted", ["a wrong value", "code"])
def test_an_output_replaced_after_it_was_listed_is_not_read(rig, tmp_path, monkeypatch, planted):
    """Regression: outputs were checked against their tasks' end when listed, then downloaded;
    a blob replaced in between (Azure takes up to 30 s to apply a revoked access policy) was
    read. The time of the downloaded bytes themselves is checked now."""
    from clihelp import invoke

    from superbatch.backends.azure.storage import BlobStore

    spec = job_spec(rig.root, f"swapped-{planted[-4:]}", 4, extra="  cleanup: {job: false}\n")
    job_id = rig.run("submit", spec, *AZURE, "--json").json["job_id"]
    wait_done(rig, spec)
    container = rig.container(record_of(spec, job_id)["target"]["job_container"])
    marker = tmp_path / "planted-code-ran"
    download_many = BlobStore.download_many

    def replaced_first(self, names, on_done):
        time.sleep(3)  # later than the task's end, past the clock tolerance
        data = pickle.dumps(999 if planted == "a wrong value" else Planted(marker))
        real = next(b.name for b in container.list_blobs(name_starts_with="out/task-00001/"))
        container.upload_blob(real, data, overwrite=True)
        return download_many(self, names, on_done)

    monkeypatch.setattr(BlobStore, "download_many", replaced_first)
    result = invoke("collect", spec, *AZURE, "--json", env=rig.env)
    assert result.code == 1, result
    assert "task-00001 (replaced while it was being downloaded)" in result.stderr
    assert json.loads(result.stdout)["ok"] is False
    assert not marker.exists()


def test_an_output_that_names_code_is_refused_unless_the_spec_allows_it(rig):
    worker = (
        "import joblib, decimal\nx = joblib.load('inputs.pickle')['x']\n"
        "joblib.dump(decimal.Context(prec=x + 1), 'outputs.pickle')\n"
    )
    spec = job_spec(rig.root, "allow", 2, worker=worker)
    refused = rig.run("run", spec, *AZURE)
    assert refused.code == 1 and "decimal.Context" in refused.stderr
    assert "collect.allow_pickle" in refused.stderr
    spec.write_text(
        spec.read_text().replace(
            "collect: {reduce: list}", "collect: {reduce: list, allow_pickle: [decimal.*]}"
        )
    )
    allowed = rig.run("run", spec, *AZURE)
    assert allowed.code == 0, allowed.stderr
    assert "prec=1" in allowed.last_line and "prec=2" in allowed.last_line


def test_retry_after_cancel_runs_the_rest_and_wait_follows_every_round(rig):
    go = rig.root / "go"  # outside the worker's files: creating it changes no identity
    slow = (
        "import joblib, os, time\nx = joblib.load('inputs.pickle')['x']\n"
        f"if x >= 2 and not os.path.exists({str(go)!r}):\n"
        "    time.sleep(30)\njoblib.dump(x * 2, 'outputs.pickle')\n"
    )
    spec = job_spec(rig.root, "cancelled", 6, worker=slow, extra="  cleanup: {job: false}\n")
    job_id = rig.run("submit", spec, *AZURE, "--json").json["job_id"]
    deadline = time.monotonic() + 30
    while rig.run("status", spec, *AZURE, "--json").json["succeeded"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert rig.run("cancel", spec, *AZURE).code == 0
    stopped = rig.run("collect", spec, *AZURE)
    assert stopped.code == 1 and "cancelled" in stopped.stderr and "retry" in stopped.stderr
    go.touch()
    retried = rig.run("retry", spec, *AZURE, "--json")
    assert retried.code == 0 and retried.json["requeued"] == [f"task-{i:05d}" for i in range(2, 6)]
    result = rig.run("collect", spec, *AZURE, "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 2, 4, 6, 8, 10]
    assert f"{job_id}-r1" in [j.id for j in rig.client().list_jobs()]


def test_credentials_in_the_endpoint_are_never_stored_or_printed(demo_rig):
    rig = demo_rig
    endpoint = rig.env["AZURE_BATCH_ENDPOINT"].replace("http://", "http://alice:s3cr3t-pw@")
    result = rig.run("run", rig.spec, *AZURE, "--json", env={"AZURE_BATCH_ENDPOINT": endpoint})
    assert result.code == 0, result.stderr
    texts = [result.stdout, result.stderr]
    for path in (rig.spec.parent / ".superbatch").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode(errors="replace"))
    assert not any("s3cr3t-pw" in t or "alice:" in t for t in texts)
    job_id = job_ids(rig.spec)[0]
    assert record_of(rig.spec, job_id)["target"]["endpoint"] == rig.env["AZURE_BATCH_ENDPOINT"]
