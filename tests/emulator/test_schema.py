"""Request bodies the emulator receives, and the bodies it answers, checked against the official
REST definition (``../shared/azure-batch/BatchService-2025-06-01.json``, beside the repository)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from emuhelpers import client_for, pool_options, task, wait_task

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "azure-batch" / "BatchService-2025-06-01.json"
REQUEST_DEFINITIONS = {
    ("POST", "/pools"): "BatchPoolCreateOptions",
    ("POST", "/jobs"): "BatchJobCreateOptions",
    ("PATCH", "/jobs/job"): "BatchJobUpdateOptions",
    ("POST", "/jobs/job2/terminate"): "BatchJobTerminateOptions",
    ("POST", "/jobs/job/tasks"): "BatchTaskCreateOptions",
    ("POST", "/jobs/job/addtaskcollection"): "BatchTaskGroup",
}


@pytest.fixture(scope="module")
def validate():
    if not SPEC.is_file():
        pytest.skip(f"the Batch REST definition is not present at {SPEC}")
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resource("urn:batch", Resource(json.loads(SPEC.read_text()), DRAFT4))

    def check(definition: str, body) -> None:
        schema = {"$ref": f"urn:batch#/definitions/{definition}"}
        jsonschema.Draft4Validator(schema, registry=registry).validate(body)
    return check


def test_bodies_match_the_rest_definition(make_emulator, validate, tmp_path):
    received = []
    emu = make_emulator(on_request=lambda method, path, body: received.append((method, path, body)))
    c = client_for(emu)
    c.create_pool(pool_options("pool", dedicated=1, task_slots_per_node=2))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool"),
                                         all_tasks_complete_mode="noaction"))
    url = "http://127.0.0.1:1/acct/c?sv=x&sig=y"
    full = task("full", "echo hi", environment_settings=[m.EnvironmentSetting(name="A", value="1")],
                resource_files=[m.ResourceFile(storage_container_url=url, blob_prefix="in/")],
                output_files=[m.OutputFile(file_pattern="*.txt", destination=m.OutputFileDestination(
                    container=m.OutputFileBlobContainerDestination(container_url=url, path="out")),
                    upload_options=m.OutputFileUploadConfiguration(upload_condition="tasksuccess"))],
                constraints=m.BatchTaskConstraints(max_task_retry_count=2))
    c.create_task_collection("job", m.BatchTaskGroup(task_values=[full, task("t2")]))
    c.create_task("job", task("single"))
    c.update_job("job", m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    wait_task(c, "job", "t2")

    responses = {
        "BatchPool": "/pools/pool", "BatchJob": "/jobs/job", "BatchTask": "/jobs/job/tasks/t2",
        "BatchTaskListResult": "/jobs/job/tasks", "BatchTaskCountsResult": "/jobs/job/taskcounts",
        "BatchPoolListResult": "/pools", "BatchJobListResult": "/jobs",
    }
    for definition, path in responses.items():
        response = c.send_request(HttpRequest("GET", f"{path}?api-version=2025-06-01"))
        validate(definition, response.json())
    c.create_job(m.BatchJobCreateOptions(id="job2", pool_info=m.BatchPoolInfo(pool_id="pool")))
    response = c.send_request(HttpRequest(
        "POST", "/jobs/job2/addtaskcollection?api-version=2025-06-01",
        json={"value": [{"id": "a", "commandLine": "echo"}, {"id": "A", "commandLine": "echo"}]}))
    validate("BatchCreateTaskCollectionResult", response.json())
    c.begin_terminate_job("job2", BatchJobTerminateOptions(termination_reason="x"), polling_interval=0).result()

    seen = set()
    for method, path, body in received:
        definition = REQUEST_DEFINITIONS.get((method, path))
        if definition and body is not None:
            validate(definition, body)
            seen.add(definition)
    assert seen == set(REQUEST_DEFINITIONS.values())

    with pytest.raises(HttpResponseError) as err:
        c.create_task("job2", task("late"))
    validate("BatchError", err.value.response.json())
