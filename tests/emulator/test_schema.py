"""Request bodies the emulator receives, and the bodies it answers, checked against the official
REST definition vendored with the emulator (``batch_emulator/rest/``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from emuhelpers import client_for, pool_options, task, wait_task
from recorder import Recorder
from schema import validate as _validate

from batch_emulator import definition, validation

EXAMPLES = Path(__file__).parent / "examples"
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
    return _validate


def test_the_definition_is_vendored_and_intact():
    doc = definition.document()
    assert doc["info"]["version"] == definition.CURRENT_API_VERSION == "2025-06-01"
    rest = Path(definition.__file__).parent / "rest"
    assert (rest / "LICENSE").read_text().count("MIT License") == 1
    assert "azure-rest-api-specs" in (rest / "README.md").read_text()


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_official_examples_pass_the_generated_validation(example):
    """Every request body of Microsoft's examples is accepted; every answer matches its definition."""
    doc = json.loads((EXAMPLES / example).read_text())
    op = next(o for _, o in definition.operations() if o.operation_id == doc["operationId"])
    bodies = [
        v for k, v in doc["parameters"].items() if isinstance(v, dict) and k not in ("batchUrl",)
    ]
    if op.body:
        assert bodies, example
        for body in bodies:
            validation.check(op.body, body)
    for status, response in doc["responses"].items():
        name = op.schemas.get(status)
        if name and response.get("body") is not None:
            _validate(name, response["body"])


def test_bodies_match_the_rest_definition(make_emulator, validate, tmp_path):
    received = []
    emu = make_emulator(on_request=lambda method, path, body: received.append((method, path, body)))
    c = client_for(emu)
    c.create_pool(pool_options("pool", dedicated=1, task_slots_per_node=2))
    c.create_job(
        m.BatchJobCreateOptions(
            id="job", pool_info=m.BatchPoolInfo(pool_id="pool"), all_tasks_complete_mode="noaction"
        )
    )
    url = "http://127.0.0.1:1/acct/c?sv=x&sig=y"
    full = task(
        "full",
        "echo hi",
        environment_settings=[m.EnvironmentSetting(name="A", value="1")],
        resource_files=[m.ResourceFile(storage_container_url=url, blob_prefix="in/")],
        output_files=[
            m.OutputFile(
                file_pattern="*.txt",
                destination=m.OutputFileDestination(
                    container=m.OutputFileBlobContainerDestination(container_url=url, path="out")
                ),
                upload_options=m.OutputFileUploadConfiguration(upload_condition="tasksuccess"),
            )
        ],
        constraints=m.BatchTaskConstraints(max_task_retry_count=2),
    )
    c.create_task_collection("job", m.BatchTaskGroup(task_values=[full, task("t2")]))
    c.create_task("job", task("single"))
    c.update_job("job", m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    wait_task(c, "job", "t2")

    node = c.get_task("job", "t2").node_info.node_id
    responses = {
        "BatchPool": "/pools/pool",
        "BatchJob": "/jobs/job",
        "BatchTask": "/jobs/job/tasks/t2",
        "BatchTaskListResult": "/jobs/job/tasks",
        "BatchTaskCountsResult": "/jobs/job/taskcounts",
        "BatchPoolListResult": "/pools",
        "BatchJobListResult": "/jobs",
        "BatchNodeListResult": "/pools/pool/nodes",
        "BatchNode": f"/pools/pool/nodes/{node}",
        "BatchNodeFileListResult": "/jobs/job/tasks/t2/files?recursive=true&",
        "BatchJobPreparationAndReleaseTaskStatusListResult": "/jobs/job/jobpreparationandreleasetaskstatus",
    }
    for name, path in responses.items():
        sep = "" if "?" in path else "?"
        response = c.send_request(HttpRequest("GET", f"{path}{sep}api-version=2025-06-01"))
        assert response.status_code == 200, (path, response.text())
        validate(name, response.json())
    c.create_job(m.BatchJobCreateOptions(id="job2", pool_info=m.BatchPoolInfo(pool_id="pool")))
    response = c.send_request(
        HttpRequest(
            "POST",
            "/jobs/job2/addtaskcollection?api-version=2025-06-01",
            json={
                "value": [{"id": "a", "commandLine": "echo"}, {"id": "A", "commandLine": "echo"}]
            },
        )
    )
    validate("BatchCreateTaskCollectionResult", response.json())
    c.begin_terminate_job(
        "job2", BatchJobTerminateOptions(termination_reason="x"), polling_interval=0
    ).result()

    seen = set()
    for method, path, body in received:
        name = REQUEST_DEFINITIONS.get((method, path))
        if name and body is not None:
            validate(name, body)
            seen.add(name)
    assert seen == set(REQUEST_DEFINITIONS.values())

    with pytest.raises(HttpResponseError) as err:
        c.create_task("job2", task("late"))
    validate("BatchError", err.value.response.json())


def test_every_answer_through_a_recording_proxy_matches_the_definition(make_emulator, tmp_path):
    """The SDK's whole conversation (errors included) checked answer by answer."""
    emu = make_emulator()
    with Recorder(emu.endpoint) as rec:
        c = client_for(rec.endpoint)
        c.create_pool(pool_options("pool", dedicated=1))
        c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
        c.create_task_collection(
            "job", m.BatchTaskGroup(task_values=[task("a"), task("b", "exit 2")])
        )
        wait_task(c, "job", "b")
        list(c.list_task_files("job", "a", recursive=True))
        node = c.get_task("job", "a").node_info.node_id
        list(c.list_nodes("pool"))
        c.get_node("pool", node)
        list(c.list_node_files("pool", node, recursive=True))
        with pytest.raises(HttpResponseError):
            c.get_job("missing")
        with pytest.raises(HttpResponseError):
            c.create_task("job", task("a"))
    seen = rec.validate_all()
    assert {
        "BatchTask",
        "BatchNode",
        "BatchNodeFileListResult",
        "BatchNodeListResult",
        "BatchError",
        "BatchCreateTaskCollectionResult",
    } <= seen
