"""Issue 22, item 2: a leaked task SAS planting an output around its task's end.

Whoever reads a task's definition holds its output SAS. A planter watches each task until
Batch says it is running (one task) or completed (the others), then writes what the task's
definition reveals of its output's name (the blob, or the virtual directory and a name
under it) at +0 s, +0.1 s and +1.5 s after the end. Whatever the storage service accepted,
`collect` never reads a planted value as a task's result: it exits 1 naming the planted
tasks, and `retry` then runs them again to the true result.
"""

from __future__ import annotations

import pickle
import secrets
import threading
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import ContainerClient
from relhelpers import job_spec, leaked_output

AZURE = ("--backend", "azure")
PLANTED = 999_999
# Every point takes a while, so that the planters watch each task end as it happens.
SLOW_DOUBLE = (
    "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(2)\n"
    "joblib.dump(x * 2, 'outputs.pickle')\n"
)
# task -> when its planter writes: while it runs, or this many seconds after Batch says
# it completed.
WHEN = {"task-00000": "running", "task-00001": 0.0, "task-00002": 0.1, "task-00003": 1.5}


def planted_names(task) -> list[str]:
    """The names a SAS holder can learn from the task's definition for its output."""
    path = leaked_output(task)[1]
    return [path, f"{path}/superbatch-output.{secrets.token_hex(16)}"]


def plant(client, job_id: str, task_id: str, when, accepted: list, errors: list) -> None:
    try:
        wanted = "running" if when == "running" else "completed"
        deadline = time.monotonic() + 60
        while True:
            task = client.get_task(job_id, task_id)
            if task.state == wanted or task.state == "completed":
                break
            assert time.monotonic() < deadline, f"{task_id} never got {wanted}"
            time.sleep(0.01)
        if when != "running":
            time.sleep(when)
        url = leaked_output(task)[0]
        data = pickle.dumps({"seed": PLANTED})
        for name in planted_names(task):
            try:
                ContainerClient.from_container_url(url).upload_blob(name, data, overwrite=True)
                accepted.append((task_id, name))
            except HttpResponseError:
                pass  # refused: fine
    except Exception as exc:  # noqa: BLE001 - reported by the test
        errors.append(repr(exc))


def test_a_leaked_sas_cannot_plant_an_output_around_its_tasks_end(rig):
    spec = job_spec(rig.root, "plantwin", 4, worker=SLOW_DOUBLE, extra="  cleanup: {job: false}\n")
    submitted = rig.run("submit", spec, *AZURE, "--json")
    assert submitted.code == 0, submitted.stderr
    job_id = submitted.json["job_id"]
    client = rig.client()
    accepted: list = []
    errors: list = []
    planters = [
        threading.Thread(target=plant, args=(client, job_id, t, w, accepted, errors))
        for t, w in WHEN.items()
    ]
    for planter in planters:
        planter.start()
    for planter in planters:
        planter.join()
    assert not errors, errors
    planted_tasks = sorted({task_id for task_id, _ in accepted})
    assert planted_tasks  # the SAS is valid until collect: the plants were accepted
    # The SAS can neither list the container nor read an output, so it cannot learn a name.
    task = client.get_task(job_id, "task-00001")
    leaked = ContainerClient.from_container_url(leaked_output(task)[0])
    with pytest.raises(HttpResponseError):
        list(leaked.list_blobs())
    own = rig.container(leaked.container_name)
    name = next(b.name for b in own.list_blobs(name_starts_with="out/task-00001/"))
    with pytest.raises(HttpResponseError):
        leaked.download_blob(name).readall()

    result = rig.run("collect", spec, *AZURE, "--json")
    assert str(PLANTED) not in result.stdout + result.stderr
    assert result.code == 1, result
    assert result.json["ok"] is False
    for task_id in planted_tasks:
        assert task_id in result.stderr
    assert "retry" in result.stderr

    # retry runs exactly those tasks again, and their own outputs are read.
    retried = rig.run("retry", spec, *AZURE, "--json")
    assert retried.code == 0, retried.stderr
    assert retried.json["requeued"] == planted_tasks
    final = rig.run("collect", spec, *AZURE, "--wait", "--json")
    assert final.code == 0, final.stderr
    assert final.json["result"] == [0, 2, 4, 6]
