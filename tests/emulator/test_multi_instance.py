"""Multi-instance tasks are refused when added (never run once and reported a success), and
``subtasksinfo`` answers as the definition says for a task that is not multi-instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError
from emuhelpers import client_for, pool_options, wait_task
from schema import validate
from test_http import raw_request

EXAMPLE = Path(__file__).parent / "examples" / "Tasks_CreateTaskCollection_Complex.json"


def test_the_definitions_complex_example_gets_its_multi_instance_task_refused(emulator):
    """Microsoft's own example, sent as it is: the multi-instance task is a client error naming
    the property, the ordinary one beside it is added and runs."""
    c = client_for(emulator)
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="jobId", pool_info=m.BatchPoolInfo(pool_id="pool")))
    body = json.loads(EXAMPLE.read_text())["parameters"]["taskCollection"]
    body["value"][1]["commandLine"] = "/bin/true"  # the example's is a Windows command
    status, _, data = raw_request(
        emulator,
        "POST",
        "/jobs/jobId/addtaskcollection",
        "2025-06-01",
        body=json.dumps(body).encode(),
    )
    assert status == 200
    results = {r["taskId"]: r for r in json.loads(data)["value"]}
    refused = results["complex1"]
    assert refused["status"] == "clienterror"
    assert refused["error"]["code"] == "UnsupportedProperty"
    assert {"key": "PropertyName", "value": "multiInstanceSettings"} in refused["error"]["values"]
    assert results["simple3"]["status"] == "success"
    assert [t.id for t in c.list_tasks("jobId")] == ["simple3"]
    assert wait_task(c, "jobId", "simple3").execution_info.result == "success"


def test_a_single_multi_instance_task_is_refused_and_subtasks_are_empty(emulator, client, job):
    multi = m.BatchTaskCreateOptions(
        id="mpi",
        command_line="/bin/true",
        multi_instance_settings=m.MultiInstanceSettings(
            number_of_instances=2, coordination_command_line="/bin/true"
        ),
    )
    with pytest.raises(HttpResponseError) as err:
        client.create_task(job, multi)
    assert err.value.status_code == 400 and err.value.error.code == "UnsupportedProperty"
    client.create_task(job, m.BatchTaskCreateOptions(id="plain", command_line="/bin/true"))
    # "If the Task is not a multi-instance Task then this returns an empty collection."
    assert list(client.list_subtasks(job, "plain")) == []
    path = f"/jobs/{job}/tasks/plain/subtasksinfo"
    status, _, data = raw_request(emulator, "GET", path, "2025-06-01")
    assert status == 200
    validate("BatchTaskListSubtasksResult", json.loads(data))
    with pytest.raises(HttpResponseError) as err:
        list(client.list_subtasks(job, "nosuchtask"))
    assert err.value.status_code == 404 and err.value.error.code == "TaskNotFound"
