"""Every supported operation, driven by the azure-batch SDK against the emulator."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions  # not exported by azure-batch 15.1
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from emuhelpers import client_for, pool_options, task, wait_task

from batch_emulator import auth


def test_signature_matches_the_sdk_policy():
    """The emulator's string-to-sign reproduces what BatchSharedKeyAuthPolicy signs."""
    from azure.batch._patch import BatchSharedKeyAuthPolicy
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.rest import HttpRequest as Req

    key = "a2V5LWZvci10ZXN0cw=="
    req = Req(
        "POST",
        "http://127.0.0.1:1/jobs/j%2F1/addtaskcollection?api-version=2025-06-01&timeOut=30",
        headers={
            "content-type": "application/json",
            "Content-Length": "12",
            "ocp-date": "Mon, 01 Jan 2024 00:00:00 GMT",
        },
    )
    BatchSharedKeyAuthPolicy(AzureNamedKeyCredential("acct", key)).on_request(
        PipelineRequest(req, PipelineContext(None))
    )
    expected = auth.sign(
        key,
        auth.string_to_sign(
            "acct",
            "POST",
            "/jobs/j%2F1/addtaskcollection",
            "api-version=2025-06-01&timeOut=30",
            req.headers,
        ),
    )
    assert req.headers["Authorization"] == f"SharedKey acct:{expected}"


def test_pool_lifecycle(client):
    client.create_pool(pool_options("P-1", dedicated=2, spot=3, task_slots_per_node=2))
    pool = client.get_pool("p-1")  # ids are case-insensitive
    assert pool.id == "P-1" and pool.state == "active" and pool.allocation_state == "steady"
    assert (pool.current_dedicated_nodes, pool.current_low_priority_nodes) == (2, 3)
    assert pool.task_slots_per_node == 2 and pool.url.endswith("/pools/P-1") and pool.etag
    assert client.pool_exists("P-1") is True
    assert [p.id for p in client.list_pools()] == ["P-1"]
    client.begin_delete_pool("P-1", polling_interval=0).result()
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_pool("P-1")
    assert err.value.error.code == "PoolNotFound"


def test_autoscale_pool_gets_one_node_or_workers(make_emulator):
    for workers, nodes in ((None, 1), (3, 3)):
        c = client_for(make_emulator(workers=workers))
        c.create_pool(
            m.BatchPoolCreateOptions(
                id="auto",
                vm_size="standard_d2s_v3",
                enable_auto_scale=True,
                auto_scale_formula="$TargetDedicatedNodes=1;",
                virtual_machine_configuration=pool_options("x").virtual_machine_configuration,
            )
        )
        assert c.get_pool("auto").current_dedicated_nodes == nodes


def test_no_spot_reports_resize_error(make_emulator):
    c = client_for(make_emulator(no_spot=True))
    c.create_pool(pool_options("spot", dedicated=0, spot=4))
    pool = c.get_pool("spot")
    assert pool.current_low_priority_nodes == 0 and pool.target_low_priority_nodes == 4
    assert pool.resize_errors and pool.resize_errors[0].code == "AccountLowPriorityCoreQuotaReached"


def test_job_get_update_terminate_delete(client, job):
    got = client.get_job(job)
    assert (
        got.state == "active"
        and got.pool_info.pool_id == "pool"
        and got.all_tasks_complete_mode == "noaction"
    )
    client.update_job(job, m.BatchJobUpdateOptions(priority=10))
    assert client.get_job(job).priority == 10
    assert [j.id for j in client.list_jobs()] == [job]
    # azure-batch 15.1 cannot send a terminate without options (None content-type fails)
    client.begin_terminate_job(
        job, BatchJobTerminateOptions(termination_reason="Stopped"), polling_interval=0
    ).result()
    done = client.get_job(job)
    assert done.state == "completed" and done.execution_info.termination_reason == "Stopped"
    client.begin_delete_job(job, polling_interval=0).result()
    with pytest.raises(ResourceNotFoundError) as err:
        client.get_job(job)
    assert err.value.error.code == "JobNotFound"


def test_tasks_add_get_list_counts(make_emulator):
    c = client_for(make_emulator(run_tasks=False))
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_task("job", task("single"))
    result = c.create_task_collection(
        "job", m.BatchTaskGroup(task_values=[task(f"t{i}") for i in range(3)])
    )
    assert sorted(r.task_id for r in result.result_values) == ["t0", "t1", "t2"]
    assert all(r.status == "success" and r.etag for r in result.result_values)
    got = c.get_task("job", "T1")
    assert got.id == "t1" and got.state == "active" and got.command_line == "/bin/sh -c 'echo hi'"
    assert got.execution_info.retry_count == 0 and got.execution_info.requeue_count == 0
    counts = c.get_job_task_counts("job")
    assert counts.task_counts.active == 4 and counts.task_counts.completed == 0
    assert counts.task_slot_counts.active == 4
    c.delete_task("job", "single")
    assert sorted(t.id for t in c.list_tasks("job")) == ["t0", "t1", "t2"]


def test_list_tasks_pages_filters_and_selects(make_emulator, monkeypatch):
    emu = make_emulator(run_tasks=False)
    c = client_for(emu)
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task(f"t{i:04d}") for i in range(2500)], max_concurrency=4)
    pages = []
    original = emu.api._page
    monkeypatch.setattr(emu.api, "_page", lambda *a, **k: pages.append(1) or original(*a, **k))
    listed = list(c.list_tasks("job", select=["id", "state"]))
    assert len(listed) == 2500 and len({t.id for t in listed}) == 2500
    assert len(pages) == 3  # maxresults 1000 by default
    assert listed[0].command_line is None and listed[0].state == "active"  # $select honoured
    small = list(c.list_tasks("job", max_results=700, filter="startswith(id, 't00')"))
    assert len(small) == 100
    assert list(c.list_tasks("job", filter="state eq 'completed'")) == []
    c.terminate_task("job", "t0001")
    failed = list(
        c.list_tasks("job", filter="executionInfo/result eq 'failure' and state eq 'completed'")
    )
    assert [t.id for t in failed] == ["t0001"]
    with pytest.raises(HttpResponseError) as err:
        list(c.list_tasks("job", filter="state in ('x')"))
    assert err.value.status_code == 400 and err.value.error.code == "InvalidQueryParameterValue"


def test_terminate_and_reactivate_task(client, job):
    client.create_task(job, task("slow", "sleep 30"))
    wait_task(client, job, "slow", "running")
    client.terminate_task(job, "slow")
    t = client.get_task(job, "slow")
    assert t.state == "completed" and t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "TaskEnded"
    client.reactivate_task(job, "slow")
    again = client.get_task(job, "slow")
    assert again.state in ("active", "running") and again.execution_info.retry_count == 0
    client.terminate_task(job, "slow")
    client.create_task(job, task("ok"))
    wait_task(client, job, "ok")
    with pytest.raises(HttpResponseError) as err:
        client.reactivate_task(job, "ok")  # succeeded tasks cannot be reactivated
    assert err.value.status_code == 409


def test_task_files(client, job):
    client.create_task(job, task("files", "echo out; echo err >&2; echo data > result.txt"))
    wait_task(client, job, "files")
    assert b"".join(client.download_task_file(job, "files", "stdout.txt")) == b"out\n"
    assert b"".join(client.download_task_file(job, "files", "stderr.txt")) == b"err\n"
    assert b"".join(client.download_task_file(job, "files", "wd/result.txt")) == b"data\n"
    props = client.get_task_file_properties(job, "files", "stdout.txt")
    assert props.content_length == 4 and props.is_directory is False
    assert (
        b"".join(client.download_task_file(job, "files", "stdout.txt", ocp_range="bytes=1-2"))
        == b"ut"
    )
    with pytest.raises(
        ResourceNotFoundError
    ) as err:  # (the SDK cannot parse a streamed error body)
        b"".join(client.download_task_file(job, "files", "missing.txt"))
    assert err.value.status_code == 404
    for path in ("missing.txt", "..%2F..%2F..%2Fetc%2Fpasswd"):
        with pytest.raises(ResourceNotFoundError) as err:
            client.send_request(
                HttpRequest("GET", f"/jobs/job/tasks/files/files/{path}?api-version=2025-06-01")
            )
        assert err.value.error.code == "FileNotFound"


def test_wrong_key_or_account_is_refused(emulator):
    for account, key in (("emulator", "d3Jvbmcta2V5"), ("other", None)):
        c = client_for(emulator, account, key or emulator.key)
        with pytest.raises(HttpResponseError) as err:
            c.get_pool("x")
        assert err.value.status_code == 403 and err.value.error.code == "AuthenticationFailed"


def test_unknown_and_unemulated_operations_are_refused(client, job):
    with pytest.raises(HttpResponseError) as err:
        client.send_request(HttpRequest("GET", "/nowhere?api-version=2025-06-01"))
    assert err.value.status_code == 400 and err.value.error.code == "InvalidUri"
    with pytest.raises(HttpResponseError) as err:  # a path of the API, a verb it does not have
        client.send_request(
            HttpRequest("POST", "/jobs/job/taskcounts?api-version=2025-06-01", json={})
        )
    assert err.value.status_code == 405 and err.value.error.code == "UnsupportedHttpVerb"
    with pytest.raises(HttpResponseError) as err:  # in the API, not emulated: never a fake success
        client.replace_job(job, m.BatchJob(pool_info=m.BatchPoolInfo(pool_id="pool")))
    assert err.value.status_code == 501 and err.value.error.code == "OperationNotEmulated"
    for version, code in (
        ("2020-01-01", "InvalidQueryParameterValue"),
        ("", "MissingRequiredQueryParameter"),
    ):
        with pytest.raises(HttpResponseError) as err:
            client.send_request(HttpRequest("GET", f"/jobs/job?api-version={version}"))
        assert err.value.status_code == 400 and err.value.error.code == code


def test_response_headers(client, job):
    response = client.send_request(
        HttpRequest(
            "GET",
            "/jobs/job?api-version=2025-06-01",
            headers={"client-request-id": "abc-123", "return-client-request-id": "true"},
        )
    )
    assert response.status_code == 200
    h = response.headers
    assert h["client-request-id"] == "abc-123" and h["request-id"] and h["ETag"].startswith("0x")
    assert h["Last-Modified"].endswith("GMT")
    body = response.json()
    assert body["odata.metadata"].endswith("#jobs/@Element") and body["url"].endswith("/jobs/job")
