"""Request bodies the definition refuses are answered 400 with the service's code and the property,
and no input leaves half-created state, a dropped connection or a stuck task."""

from __future__ import annotations

import json
import random

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from emuhelpers import client_for, pool_options, task, wait_for, wait_task

V = "api-version=2025-06-01"
SAS = "http://127.0.0.1:1/acct/c?sv=x&sig=y"
GOOD_TASK = {"id": "t", "commandLine": "/bin/true"}


@pytest.fixture
def c(make_emulator):
    client = client_for(make_emulator())
    client.create_pool(pool_options("pool", dedicated=1))
    client.create_pool(pool_options("docker", dedicated=1, container=True))
    client.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    client.create_job(
        m.BatchJobCreateOptions(id="cjob", pool_info=m.BatchPoolInfo(pool_id="docker"))
    )
    return client


def send(c, method: str, path: str, body=None, raw: bytes | None = None):
    headers = {"Content-Type": "application/json; odata=minimalmetadata"}
    content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        response = c.send_request(
            HttpRequest(method, f"{path}?{V}", headers=headers, content=content)
        )
    except HttpResponseError as exc:  # the SDK raises on errors; the answer is kept
        response = exc.response
    return response.status_code, (json.loads(response.text()) if response.text() else None)


def error(doc: dict) -> tuple[str, dict]:
    return doc["code"], {v["key"]: v["value"] for v in doc.get("values", [])}


BAD_TASKS = [
    (
        "outputFiles without uploadOptions",
        {
            "outputFiles": [
                {"filePattern": "*.txt", "destination": {"container": {"containerUrl": SAS}}}
            ]
        },
        "MissingRequiredProperty",
        "outputFiles[0].uploadOptions",
    ),
    (
        "httpUrl without filePath",
        {"resourceFiles": [{"httpUrl": SAS}]},
        "MissingRequiredProperty",
        "resourceFiles[0].filePath",
    ),
    (
        "environment setting without name",
        {"environmentSettings": [{"value": "1"}]},
        "MissingRequiredProperty",
        "environmentSettings[0].name",
    ),
    (
        "a duration in words",
        {"constraints": {"maxWallClockTime": "1 hour"}},
        "InvalidRequestBody",
        "constraints.maxWallClockTime",
    ),
    ("a number as a word", {"requiredSlots": "two"}, "InvalidRequestBody", "requiredSlots"),
    (
        "a fraction as a string",
        {"constraints": {"maxTaskRetryCount": "3.5"}},
        "InvalidRequestBody",
        "constraints.maxTaskRetryCount",
    ),
    ("a string out of int32", {"requiredSlots": str(2**31)}, "InvalidRequestBody", "requiredSlots"),
    ("a boolean for an int32", {"requiredSlots": True}, "InvalidRequestBody", "requiredSlots"),
    ("a float for an int32", {"requiredSlots": 1.5}, "InvalidRequestBody", "requiredSlots"),
    ("an int32 out of range", {"requiredSlots": 2**31}, "InvalidRequestBody", "requiredSlots"),
    (
        "a string for a list",
        {"environmentSettings": "A=1"},
        "InvalidRequestBody",
        "environmentSettings",
    ),
    ("an object for a string", {"commandLine": {"cmd": "x"}}, "InvalidRequestBody", "commandLine"),
    (
        "an unknown enum value",
        {
            "outputFiles": [
                {
                    "filePattern": "x",
                    "destination": {"container": {"containerUrl": SAS}},
                    "uploadOptions": {"uploadCondition": "whenever"},
                }
            ]
        },
        "InvalidPropertyValue",
        "outputFiles[0].uploadOptions.uploadCondition",
    ),
    (
        "a URL with spaces",
        {"resourceFiles": [{"httpUrl": "not a url", "filePath": "x"}]},
        "InvalidPropertyValue",
        "resourceFiles[0].httpUrl",
    ),
    (
        "two resource file sources",
        {"resourceFiles": [{"httpUrl": SAS, "storageContainerUrl": SAS, "filePath": "x"}]},
        "InvalidPropertyValue",
        "resourceFiles[0]",
    ),
]


RULES = {"httpUrl without filePath", "two resource file sources"}


@pytest.mark.parametrize("what,extra,code,prop", BAD_TASKS, ids=[b[0] for b in BAD_TASKS])
def test_bad_task_bodies_are_refused_with_the_property(c, what, extra, code, prop):
    status, doc = send(c, "POST", "/jobs/job/tasks", dict(GOOD_TASK, **extra))
    assert status == 400, doc
    assert error(doc)[0] == code and error(doc)[1]["PropertyName"] == prop
    assert "RequestId:" in doc["message"]["value"]
    status, doc = send(c, "GET", "/jobs/job/tasks/t")  # nothing half-created
    assert status == 404 and doc["code"] == "TaskNotFound"
    status, doc = send(
        c, "POST", "/jobs/job/addtaskcollection", {"value": [dict(GOOD_TASK, **extra)]}
    )
    if what in RULES:  # beyond the definition: refused per task in a collection
        assert status == 200 and doc["value"][0]["status"] == "clienterror"
        assert error(doc["value"][0]["error"])[0] == code
    else:  # the body does not parse: the whole request is refused
        assert status == 400 and error(doc)[0] == code
    assert c.get_job_task_counts("job").task_counts.active == 0


def test_container_settings_without_image_name(c):
    status, doc = send(
        c,
        "POST",
        "/jobs/cjob/tasks",
        dict(GOOD_TASK, containerSettings={"containerRunOptions": "--rm"}),
    )
    assert status == 400 and error(doc) == (
        "MissingRequiredProperty",
        {"PropertyName": "containerSettings.imageName"},
    )


def test_pool_bodies(c):
    body = pool_options("p2").as_dict()
    status, doc = send(c, "POST", "/pools", dict(body, targetDedicatedNodes="two"))
    assert status == 400 and error(doc)[0] == "InvalidRequestBody"
    assert error(doc)[1]["PropertyName"] == "targetDedicatedNodes"
    status, doc = send(c, "POST", "/pools", {k: v for k, v in body.items() if k != "vmSize"})
    assert status == 400 and error(doc) == ("MissingRequiredProperty", {"PropertyName": "vmSize"})
    status, _ = send(c, "GET", "/pools/p2")
    assert status == 404


def test_enums_are_case_insensitive(c):
    status, _ = send(
        c,
        "POST",
        "/jobs",
        {
            "id": "j2",
            "poolInfo": {"poolId": "pool"},
            "onAllTasksComplete": "TerminateJob",
            "onTaskFailure": "NoAction",
        },
    )
    assert status == 201
    status, _ = send(
        c,
        "POST",
        "/jobs/cjob/tasks",
        dict(
            GOOD_TASK,
            id="ok",
            containerSettings={"imageName": "x", "workingDirectory": "taskWorkingDirectory"},
        ),
    )
    assert status == 201


def test_malformed_and_empty_bodies(c):
    for raw in (b"{", b"[1, 2]", b"\xff\xfe", b""):
        status, doc = send(c, "POST", "/jobs/job/tasks", raw=raw)
        assert status == 400 and doc["code"] == "InvalidRequestBody", raw
    status, doc = send(c, "POST", "/jobs/job/addtaskcollection", {"value": "not-a-list"})
    assert status == 400 and error(doc)[1]["PropertyName"] == "value"


def _mutations(rng: random.Random):
    """Bodies near a valid task: each property replaced by values of every JSON type."""
    base = {
        "id": "m",
        "commandLine": "/bin/true",
        "requiredSlots": 1,
        "constraints": {"maxTaskRetryCount": 1, "maxWallClockTime": "PT1M"},
        "environmentSettings": [{"name": "A", "value": "1"}],
        "resourceFiles": [{"httpUrl": SAS, "filePath": "f"}],
        "exitConditions": {"default": {}},
    }
    values = [None, 0, -1, 2**40, 1.5, True, "", "x", "PT1H", [], [1], {}, {"a": 1}]
    for _ in range(60):
        body = json.loads(json.dumps(base))
        target, key = body, rng.choice(list(body))
        if isinstance(body[key], dict) and rng.random() < 0.5:
            target, key = body[key], rng.choice(list(body[key]))
        target[key] = rng.choice(values)
        yield body


def test_no_input_hangs_a_task_or_drops_a_connection(c):
    """Whatever is sent, every request is answered, and tasks that are created complete."""
    created = []
    for i, body in enumerate(_mutations(random.Random(4))):
        body["id"] = f"m{i}"
        status, doc = send(c, "POST", "/jobs/job/tasks", body)
        assert status in (201, 400, 409), (body, doc)
        if status == 201:
            created.append(body["id"])
    assert created
    wait_for(lambda: c.get_job_task_counts("job").task_counts.completed == len(created), timeout=60)
    counts = c.get_job_task_counts("job").task_counts
    assert counts.running == 0 and counts.active == 0
    c.create_task("job", task("after", "echo fine"))  # the node still runs tasks
    assert wait_task(c, "job", "after").execution_info.result == "success"


def test_null_is_an_absent_property(c):
    status, _ = send(
        c,
        "POST",
        "/jobs/job/tasks",
        dict(GOOD_TASK, id="nulls", constraints=None, environmentSettings=None, dependsOn=None),
    )
    assert status == 201
    assert wait_task(c, "job", "nulls").execution_info.result == "success"
    status, doc = send(c, "POST", "/jobs/job/tasks", dict(GOOD_TASK, id="n2", commandLine=None))
    assert status == 400 and error(doc) == (
        "MissingRequiredProperty",
        {"PropertyName": "commandLine"},
    )
    status, doc = send(
        c, "POST", "/jobs/job/tasks", dict(GOOD_TASK, id="n3", environmentSettings=[None])
    )
    assert status == 400 and error(doc)[1]["PropertyName"] == "environmentSettings[0]"


def test_numbers_and_booleans_sent_as_strings_are_read_as_the_service_reads_them(c):
    """The service's OData reader converts a JSON string to the property's type (the Azure CLI
    sends ``"targetDedicatedNodes": "2"``); the stored value is the number, not the text."""
    body = dict(pool_options("p3").as_dict(), targetDedicatedNodes=" 2 ", taskSlotsPerNode="+3")
    status, doc = send(c, "POST", "/pools", body)
    assert status == 201, doc
    status, pool = send(c, "GET", "/pools/p3")
    assert (pool["targetDedicatedNodes"], pool["currentDedicatedNodes"]) == (2, 2)
    assert pool["taskSlotsPerNode"] == 3
    job = {"id": "sj", "poolInfo": {"poolId": "pool"}, "priority": "-7"}
    for bad in (1, "yes"):  # a number, or a word, is not a boolean
        status, doc = send(c, "POST", "/jobs", dict(job, usesTaskDependencies=bad))
        assert status == 400 and error(doc)[0] == "InvalidRequestBody", doc
    status, doc = send(c, "POST", "/jobs", dict(job, usesTaskDependencies=" TRUE"))
    assert status == 201, doc
    status, doc = send(c, "PATCH", "/jobs/sj", {"priority": "10", "maxParallelTasks": "4"})
    assert status == 200, doc
    job = send(c, "GET", "/jobs/sj")[1]
    assert (job["priority"], job["maxParallelTasks"], job["usesTaskDependencies"]) == (10, 4, True)
    task = dict(GOOD_TASK, id="st", constraints={"maxTaskRetryCount": "2"})
    status, doc = send(c, "POST", "/jobs/sj/tasks", task)
    assert status == 201, doc
    assert send(c, "GET", "/jobs/sj/tasks/st")[1]["constraints"]["maxTaskRetryCount"] == 2


DOCUMENTED_LIMITS = [
    ("POST", "/pools", {"taskSlotsPerNode": 1000}, "taskSlotsPerNode", "256"),
    ("POST", "/pools", {"taskSlotsPerNode": "257"}, "taskSlotsPerNode", "256"),
    ("POST", "/pools", {"resizeTimeout": "PT4M"}, "resizeTimeout", "5 minutes"),
    ("POST", "/jobs", {"priority": 5000}, "priority", "-1000 to 1000"),
    ("POST", "/jobs", {"priority": -1001}, "priority", "-1000 to 1000"),
    ("POST", "/jobs", {"maxParallelTasks": 0}, "maxParallelTasks", "-1 or greater than 0"),
    ("PATCH", "/jobs/job", {"priority": "1001"}, "priority", "-1000 to 1000"),
]


@pytest.mark.parametrize("method,path,extra,prop,words", DOCUMENTED_LIMITS)
def test_ranges_the_definition_states_in_words(c, method, path, extra, prop, words):
    base = {
        "/pools": dict(pool_options("lim").as_dict()),
        "/jobs": {"id": "lim", "poolInfo": {"poolId": "pool"}},
    }.get(path, {})
    status, doc = send(c, method, path, dict(base, **extra))
    assert status == 400, doc
    code, values = error(doc)
    assert (code, values["PropertyName"]) == ("InvalidPropertyValue", prop)
    assert words in values["Reason"]
    assert send(c, "GET", "/pools/lim")[0] == send(c, "GET", "/jobs/lim")[0] == 404
    assert send(c, "GET", "/jobs/job")[1]["priority"] == 0


@pytest.mark.parametrize(
    "method,path,extra",
    [
        ("POST", "/pools", {"taskSlotsPerNode": 256, "resizeTimeout": "PT5M"}),
        ("POST", "/jobs", {"priority": -1000, "maxParallelTasks": -1}),
        ("POST", "/jobs", {"priority": 1000, "maxParallelTasks": 1}),
    ],
)
def test_the_bounds_themselves_are_accepted(c, method, path, extra):
    base = {
        "/pools": dict(pool_options("lim").as_dict()),
        "/jobs": {"id": "lim", "poolInfo": {"poolId": "pool"}},
    }[path]
    status, doc = send(c, method, path, dict(base, **extra))
    assert status == 201, doc


def test_a_pool_needs_a_virtual_machine_configuration(c):
    """'This property must be specified.' (BatchPoolCreateOptions.virtualMachineConfiguration)."""
    body = {"id": "novm", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1}
    status, doc = send(c, "POST", "/pools", body)
    assert status == 400 and error(doc) == (
        "MissingRequiredProperty",
        {"PropertyName": "virtualMachineConfiguration"},
    )
    assert send(c, "GET", "/pools/novm")[0] == 404
