"""Auto pools: ``poolInfo.autoPoolSpecification`` makes a pool for the job, listed with the
account's pools and deleted with the job unless ``keepAlive``."""

from __future__ import annotations

import json

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError
from emuhelpers import client_for, task, wait_for, wait_task
from test_http import raw_request

SPEC = {
    "vmSize": "standard_d1_v2",
    "virtualMachineConfiguration": {
        "imageReference": {
            "publisher": "canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
        },
        "nodeAgentSKUId": "batch.node.ubuntu 24.04",
    },
    "targetDedicatedNodes": 1,
}


def create_job(emu, job_id: str, **auto) -> tuple[int, dict]:
    """The job of azure-batch-samples' sample1_helloworld, as raw REST."""
    spec = {"autoPoolIdPrefix": "HelloWorld", "poolLifetimeOption": "job", "pool": SPEC}
    body = {"id": job_id, "poolInfo": {"autoPoolSpecification": dict(spec, **auto)}}
    status, _, data = raw_request(
        emu, "POST", "/jobs", "2025-06-01", body=json.dumps(body).encode()
    )
    return status, json.loads(data) if data else {}


def test_hello_world_runs_on_a_pool_made_for_the_job_and_deleted_with_it(make_emulator):
    emu = make_emulator(delete_delay=0.5)
    c = client_for(emu)
    assert create_job(emu, "helloworld", keepAlive=False)[0] == 201
    pool_id = c.get_job("helloworld").execution_info.pool_id
    assert pool_id.startswith("HelloWorld_") and len(pool_id) <= 64
    assert [p.id for p in c.list_pools()] == [pool_id]
    assert c.get_pool(pool_id).vm_size == "standard_d1_v2"
    c.create_task(
        "helloworld", task("task1", "echo Hello world from the Batch Hello world sample!")
    )
    done = wait_task(c, "helloworld", "task1")
    assert done.execution_info.result == "success" and done.node_info.pool_id == pool_id
    out = b"".join(c.download_task_file("helloworld", "task1", "stdout.txt")).decode()
    assert out == "Hello world from the Batch Hello world sample!\n"
    c.begin_delete_job("helloworld")
    assert c.get_pool(pool_id).state == "deleting"
    wait_for(lambda: list(c.list_pools()) == [] and list(c.list_jobs()) == [], timeout=10)


def test_the_auto_pool_goes_when_the_job_completes_unless_kept_alive(make_emulator):
    emu = make_emulator(delete_delay=0.2)
    c = client_for(emu)
    for job_id, keep in (("gone", False), ("kept", True)):
        assert create_job(emu, job_id, keepAlive=keep)[0] == 201
        c.create_task(job_id, task("t"))
        c.update_job(job_id, m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
        wait_for(lambda j=job_id: c.get_job(j).state == "completed")
    gone, kept = (c.get_job(j).execution_info.pool_id for j in ("gone", "kept"))
    wait_for(lambda: [p.id for p in c.list_pools()] == [kept])
    assert c.get_pool(kept).state == "active" and gone != kept


@pytest.mark.parametrize(
    "pool_info, code, name",
    [
        (
            {"poolId": "p", "autoPoolSpecification": {"poolLifetimeOption": "job", "pool": SPEC}},
            "InvalidPropertyValue",
            "poolInfo",
        ),
        (
            {"autoPoolSpecification": {"poolLifetimeOption": "jobschedule", "pool": SPEC}},
            "InvalidPropertyValue",
            "poolInfo.autoPoolSpecification.poolLifetimeOption",
        ),
        (
            {"autoPoolSpecification": {"poolLifetimeOption": "job"}},
            "MissingRequiredProperty",
            "poolInfo.autoPoolSpecification.pool",
        ),
    ],
)
def test_pool_info_needs_one_pool(emulator, pool_info, code, name):
    body = json.dumps({"id": "j", "poolInfo": pool_info}).encode()
    status, _, data = raw_request(emulator, "POST", "/jobs", "2025-06-01", body=body)
    error = json.loads(data)
    assert status == 400 and error["code"] == code
    assert name in [v["value"] for v in error["values"]]
    with pytest.raises(HttpResponseError):
        client_for(emulator).get_job("j")
    assert list(client_for(emulator).list_pools()) == []
