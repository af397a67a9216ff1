"""A pool's start task runs on every node before (``waitForSuccess``) its tasks; a failing one,
after its retries, leaves the node ``starttaskfailed`` and scheduling nothing there."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.batch import models as m
from emuhelpers import client_for, pool_options, task, wait_for, wait_task
from schema import validate
from test_http import raw_request

from batch_emulator.node import node_root

POOL = {
    "id": "pool",
    "vmSize": "standard_d2s_v3",
    "virtualMachineConfiguration": {
        "imageReference": {
            "publisher": "canonical",
            "offer": "ubuntu-24_04-lts",
            "sku": "server",
            "version": "latest",
        },
        "nodeAgentSKUId": "batch.node.ubuntu 24.04",
    },
    "targetDedicatedNodes": 2,
    "startTask": {"commandLine": "/bin/false", "waitForSuccess": True, "maxTaskRetryCount": 2},
}


def nodes(emu) -> list[dict]:
    status, _, data = raw_request(emu, "GET", "/pools/pool/nodes", "2025-06-01")
    assert status == 200
    body = json.loads(data)
    validate("BatchNodeListResult", body)
    return body["value"]


def test_a_failing_start_task_is_retried_then_the_node_takes_no_task(emulator):
    """The issue's request, raw: the nodes end ``starttaskfailed`` after 1 + 2 tries, the job's
    task stays active, and the start task's files are on the node."""
    status, _, _ = raw_request(
        emulator, "POST", "/pools", "2025-06-01", body=json.dumps(POOL).encode()
    )
    assert status == 201
    c = client_for(emulator)
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_task("job", task("t1"))
    wait_for(lambda: all(n["state"] == "starttaskfailed" for n in nodes(emulator)))
    for node in nodes(emulator):
        info = node["startTaskInfo"]
        assert info["state"] == "completed" and info["result"] == "failure"
        assert info["exitCode"] == 1 and info["retryCount"] == 2
        assert info["failureInfo"]["code"] == "FailureExitCode"
        assert node["startTask"]["commandLine"] == "/bin/false"
        files = [f.name for f in c.list_node_files("pool", node["id"], recursive=True)]
        assert "startup/stdout.txt" in files and "startup/stderr.txt" in files
    assert c.get_task("job", "t1").state == "active"
    assert c.get_job_task_counts("job").task_counts.active == 1


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web(tmp_path):
    """A plain web server for httpUrl resource files."""
    (tmp_path / "www").mkdir()
    handler = functools.partial(_Quiet, directory=str(tmp_path / "www"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path / "www", f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_tasks_wait_for_a_succeeding_start_task_and_see_what_it_set_up(make_emulator, web):
    """Resource files, environment and user identity reach the start task, which runs in
    ``startup/wd`` without a shell; tasks start only after it succeeded on their node."""
    www, url = web
    (www / "setup.sh").write_text(
        'sleep 0.5; echo "$GREETING $AZ_BATCH_TASK_USER_IDENTITY $AZ_BATCH_JOB_ID." '
        '> "$AZ_BATCH_NODE_SHARED_DIR/ready"; pwd; echo "$AZ_BATCH_TASK_DIR"\n'
    )
    emu = make_emulator()
    c = client_for(emu)
    start = m.BatchStartTask(
        command_line="/bin/sh setup.sh",
        resource_files=[m.ResourceFile(http_url=f"{url}/setup.sh", file_path="setup.sh")],
        environment_settings=[m.EnvironmentSetting(name="GREETING", value="hello")],
        user_identity=m.UserIdentity(
            auto_user=m.AutoUserSpecification(scope="pool", elevation_level="admin")
        ),
    )
    c.create_pool(pool_options("pool", dedicated=1, start_task=start))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_task("job", task("t1", 'cat "$AZ_BATCH_NODE_SHARED_DIR/ready"'))
    assert nodes(emu)[0]["state"] == "waitingforstarttask"
    assert c.get_task("job", "t1").state == "active"
    done = wait_task(c, "job", "t1")
    assert done.execution_info.result == "success"
    node = c.get_node("pool", done.node_info.node_id)
    assert node.start_task_info.result == "success" and node.start_task_info.exit_code == 0
    out = b"".join(c.download_task_file("job", "t1", "stdout.txt")).decode()
    assert out == "hello PoolAdmin .\n"  # no AZ_BATCH_JOB_ID in a start task
    startup = node_root(emu.root, emu.store.node("pool", node.id)) / "startup"
    assert (startup / "stdout.txt").read_text().splitlines() == [
        str(startup / "wd"),
        str(startup),
    ]


def test_without_wait_for_success_a_failing_start_task_does_not_hold_tasks(client):
    start = m.BatchStartTask(command_line="/bin/false", wait_for_success=False)
    client.create_pool(pool_options("pool", dedicated=1, start_task=start))
    client.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    client.create_task("job", task("t1"))
    assert wait_task(client, "job", "t1").execution_info.result == "success"
    node = wait_for(
        lambda: (
            (n := next(iter(client.list_nodes("pool")))).start_task_info
            and n.start_task_info.state == "completed"
            and n
        )
    )
    assert node.state == "idle" and node.start_task_info.result == "failure"
