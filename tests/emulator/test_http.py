"""The HTTP surface: api-versions, signatures, conditional headers, the headers the definition
declares, links through a proxy, nodes and file listings, nested $filter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import time
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from azure.batch import models as m
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceModifiedError, ResourceNotModifiedError
from emuhelpers import client_for, pool_options, task, wait_task
from recorder import Recorder

from batch_emulator import DEV_ACCOUNT, DEV_KEY, auth, definition

V25 = definition.CURRENT_API_VERSION
JOB = json.dumps({"id": "late", "poolInfo": {"poolId": "p"}}).encode()


def raw_request(
    emu,
    method: str,
    path: str,
    version: str,
    headers: dict | None = None,
    body: bytes | None = None,
) -> tuple[int, dict, bytes]:
    """A request signed over exactly the headers sent (no Content-Length when there is no body),
    dated now unless ``headers`` give their own ``ocp-date``/``Date``."""
    headers = dict(headers or {})
    if not {"ocp-date", "Date"} & set(headers):
        headers["ocp-date"] = formatdate(usegmt=True)
    if body is not None:
        headers["Content-Length"] = str(len(body))
        headers["Content-Type"] = "application/json; odata=minimalmetadata"
    query = f"api-version={version}"
    text = auth.string_to_sign(DEV_ACCOUNT, method, path, query, headers)
    headers["Authorization"] = f"SharedKey {DEV_ACCOUNT}:{auth.sign(DEV_KEY, text)}"
    url = urlsplit(emu.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest(method, f"{path}?{query}", skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


@pytest.mark.parametrize("version", definition.API_VERSIONS)
def test_every_published_api_version_is_served(emulator, version):
    status, _, data = raw_request(emulator, "GET", "/pools", version)
    assert status == 200 and json.loads(data)["value"] == []


def test_delete_without_content_length_is_signed_as_received(emulator):
    """Node's SDK sends DELETE with no Content-Length and signs that line empty."""
    c = client_for(emulator)
    c.create_pool(pool_options("pool"))
    status, headers, _ = raw_request(emulator, "DELETE", "/pools/pool", "2022-10-01.16.0")
    assert status == 202
    assert c.get_pool("pool").state == "deleting"


def test_delete_with_content_length_zero_is_accepted(emulator):
    """A raw DELETE carrying ``Content-Length: 0`` deletes the job (202, then ``deleting``)."""
    c = client_for(emulator)
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="J", pool_info=m.BatchPoolInfo(pool_id="pool")))
    status, _, _ = raw_request(
        emulator, "DELETE", "/jobs/J", "2025-06-01", headers={"Content-Length": "0"}
    )
    assert status == 202
    assert c.get_job("J").state == "deleting"


def test_a_wrong_signature_is_refused(emulator):
    text = auth.string_to_sign(DEV_ACCOUNT, "GET", "/pools", "api-version=2025-06-01", {})
    bad = base64.b64encode(hmac.new(b"other", text.encode(), hashlib.sha256).digest()).decode()
    url = urlsplit(emulator.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request(
        "GET",
        "/pools?api-version=2025-06-01",
        headers={"Authorization": f"SharedKey {DEV_ACCOUNT}:{bad}"},
    )
    resp = conn.getresponse()
    assert resp.status == 403 and json.loads(resp.read())["code"] == "AuthenticationFailed"


@pytest.mark.parametrize(
    "dates,detail",
    [
        ({"ocp-date": "Mon, 01 Jan 2001 00:00:00 GMT"}, "Request date header too old"),
        ({"ocp-date": "Fri, 01 Jan 2100 00:00:00 GMT"}, "too far in the future"),
        ({"ocp-date": "garbage"}, "not a valid HTTP date"),
        # Dates relative to now are made when the test runs ("now" below), not when the
        # suite is collected: a long suite would otherwise bring a "+16 minutes" into range.
        ({"ocp-date": -16 * 60}, "too old"),
        ({"Date": 16 * 60}, "too far in the future"),
        # ocp-date wins over Date
        ({"Date": 0, "ocp-date": "Mon, 01 Jan 2001 00:00:00 GMT"}, "too old"),
        ({}, "not specified"),
    ],
)
def test_a_request_not_received_within_15_minutes_of_its_date_is_refused(emulator, dates, detail):
    """'The Batch service must receive a request within 15 minutes of when it is created.'"""
    dates = {
        name: formatdate(time.time() + value, usegmt=True) if isinstance(value, int) else value
        for name, value in dates.items()
    }
    if dates:
        status, _, data = raw_request(emulator, "POST", "/jobs", V25, dates, JOB)
    else:  # signed, but with no date header at all
        text = auth.string_to_sign(DEV_ACCOUNT, "GET", "/jobs", f"api-version={V25}", {})
        url = urlsplit(emulator.endpoint)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request(
            "GET",
            f"/jobs?api-version={V25}",
            headers={"Authorization": f"SharedKey {DEV_ACCOUNT}:{auth.sign(DEV_KEY, text)}"},
        )
        resp = conn.getresponse()
        status, data = resp.status, resp.read()
    doc = json.loads(data)
    assert (status, doc["code"]) == (403, "AuthenticationFailed")
    assert detail in {v["key"]: v["value"] for v in doc["values"]}["AuthenticationErrorDetail"]
    assert raw_request(emulator, "GET", "/jobs/late", V25)[0] == 404  # nothing was created


def test_a_request_dated_within_15_minutes_either_way_is_served(emulator):
    for offset in (-14 * 60, 14 * 60):
        dates = {"ocp-date": formatdate(time.time() + offset, usegmt=True)}
        assert raw_request(emulator, "GET", "/jobs", V25, dates)[0] == 200
    assert (
        raw_request(emulator, "POST", "/jobs", V25, {"Date": formatdate(usegmt=True)}, JOB)[0]
        == 201
    )


def test_conditional_headers(client, job):
    etag = client.get_job(job).etag
    client.get_job(job, etag=etag, match_condition=MatchConditions.IfNotModified)  # If-Match: fine
    with pytest.raises(
        (ResourceNotModifiedError, ResourceModifiedError)
    ) as err:  # If-None-Match -> 304
        client.get_job(job, etag=etag, match_condition=MatchConditions.IfModified)
    assert err.value.status_code == 304
    with pytest.raises(HttpResponseError) as err:
        client.get_job(job, etag="0x1", match_condition=MatchConditions.IfNotModified)
    assert err.value.status_code == 412 and err.value.error.code == "ConditionNotMet"
    with pytest.raises(
        (ResourceModifiedError, HttpResponseError)
    ) as err:  # a write with a stale ETag
        client.update_job(
            job,
            m.BatchJobUpdateOptions(priority=5),
            etag="0x1",
            match_condition=MatchConditions.IfNotModified,
        )
    assert err.value.status_code == 412
    assert client.get_job(job).priority == 0  # not applied
    client.update_job(
        job,
        m.BatchJobUpdateOptions(priority=5),
        etag=etag,
        match_condition=MatchConditions.IfNotModified,
    )
    assert client.get_job(job).priority == 5 and client.get_job(job).etag != etag


def test_declared_headers_are_on_every_answer(make_emulator):
    """ETag, Last-Modified, request-id, DataServiceId: wherever the definition declares them."""
    emu = make_emulator()
    with Recorder(emu.endpoint) as rec:
        c = client_for(rec.endpoint)
        c.create_pool(pool_options("pool", dedicated=1))
        c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
        c.create_task("job", task("t"))
        c.create_task_collection("job", m.BatchTaskGroup(task_values=[task("u")]))
        wait_task(c, "job", "t")
        c.get_job_task_counts("job")
        list(c.list_jobs()), list(c.list_pools()), list(c.list_tasks("job"))
        list(c.list_task_files("job", "t")), c.get_task_file_properties("job", "t", "stdout.txt")
        node = c.get_task("job", "t").node_info.node_id
        list(c.list_nodes("pool")), c.get_node("pool", node), list(c.list_node_files("pool", node))
        c.update_job("job", m.BatchJobUpdateOptions(priority=1))
        c.terminate_task("job", "u")
        c.delete_task("job", "u")
    checked = set()
    for ex in rec.exchanges:
        op, _, _ = definition.find(ex.method, ex.path)
        if op is None or ex.status >= 400:
            continue
        names = {k.lower() for k in ex.headers}
        for header in op.response_headers(ex.status):
            if header.lower() not in ("client-request-id",):
                assert header.lower() in names, (op.operation_id, header)
        checked.add(op.operation_id)
    assert len(checked) >= 16, checked


def test_links_follow_the_host_the_client_used(make_emulator):
    emu = make_emulator(run_tasks=False)
    client_for(emu).create_pool(pool_options("pool"))
    client_for(emu).create_job(
        m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool"))
    )
    client_for(emu).create_tasks("job", [task(f"t{i}") for i in range(30)])
    with Recorder(emu.endpoint) as rec:
        c = client_for(rec.endpoint)
        assert len(list(c.list_tasks("job", max_results=7))) == 30  # every page through the proxy
        assert c.get_task("job", "t1").url == f"{rec.endpoint}/jobs/job/tasks/t1"
    pages = [ex for ex in rec.exchanges if ex.path == "/jobs/job/tasks"]
    assert len(pages) == 5
    links = [ex.json().get("odata.nextLink") for ex in pages[:-1]]
    assert all(
        link.startswith(rec.endpoint + "/jobs/job/tasks?api-version=2025-06-01&") for link in links
    )


def test_nested_filters(make_emulator):
    emu = make_emulator(run_tasks=False)
    c = client_for(emu)
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task(f"a{i}") for i in range(3)] + [task(f"b{i}") for i in range(3)])
    c.terminate_task("job", "a1")
    c.terminate_task("job", "b2")
    f = "(startswith(id,'a') or id eq 'b2') and (state eq 'completed' and not (id eq 'zz'))"
    assert sorted(t.id for t in c.list_tasks("job", filter=f)) == ["a1", "b2"]
    f = "state eq 'active' and (id eq 'a0' or (id eq 'b0' or id eq 'b1'))"
    assert sorted(t.id for t in c.list_tasks("job", filter=f)) == ["a0", "b0", "b1"]
    with pytest.raises(HttpResponseError) as err:
        list(c.list_tasks("job", filter="(state eq 'active'"))
    assert err.value.error.code == "InvalidQueryParameterValue"


def test_task_files_nodes_and_node_files(client, job):
    client.create_task(job, task("files", "mkdir -p sub; echo data > sub/result.txt; echo out"))
    t = wait_task(client, job, "files")
    top = {f.name: f for f in client.list_task_files(job, "files")}
    assert set(top) == {"stdout.txt", "stderr.txt", "wd"} and top["wd"].is_directory
    every = {f.name: f for f in client.list_task_files(job, "files", recursive=True)}
    assert every["wd/sub/result.txt"].properties.content_length == 5
    assert every["stdout.txt"].url.endswith("/jobs/job/tasks/files/files/stdout.txt")
    only = list(
        client.list_task_files(job, "files", recursive=True, filter="startswith(name,'wd/sub')")
    )
    assert sorted(f.name for f in only) == ["wd/sub", "wd/sub/result.txt"]

    nodes = {n.id: n for n in client.list_nodes("pool")}
    assert len(nodes) == 2 and t.node_info.node_id in nodes
    node = client.get_node("pool", t.node_info.node_id)
    assert node.state == "idle" and node.total_tasks_run == 1 and node.total_tasks_succeeded == 1
    assert node.recent_tasks[0].task_id == "files" and node.is_dedicated
    names = {f.name for f in client.list_node_files("pool", node.id, recursive=True)}
    assert {"shared", "startup", "workitems/job/job-1/files/wd/sub/result.txt"} <= names
    data = b"".join(
        client.download_node_file("pool", node.id, "workitems/job/job-1/files/stdout.txt")
    )
    assert data == b"out\n"
    with pytest.raises(HttpResponseError) as err:
        client.get_node("pool", "tvmps_nope")
    assert err.value.status_code == 404 and err.value.error.code == "NodeNotFound"


def test_a_chunked_body_is_read(emulator):
    """A body sent with Transfer-Encoding: chunked (no Content-Length) is read and answered."""
    body = json.dumps(pool_options("chunky").as_dict()).encode()
    headers = {
        "ocp-date": formatdate(usegmt=True),
        "Content-Type": "application/json; odata=minimalmetadata",
        "Transfer-Encoding": "chunked",
    }
    query = "api-version=2025-06-01"
    text = auth.string_to_sign(
        DEV_ACCOUNT,
        "POST",
        "/pools",
        query,
        {k: v for k, v in headers.items() if k != "Transfer-Encoding"},
    )
    headers["Authorization"] = f"SharedKey {DEV_ACCOUNT}:{auth.sign(DEV_KEY, text)}"
    url = urlsplit(emulator.endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request(
        "POST",
        f"/pools?{query}",
        body=iter([body[:10], body[10:]]),
        headers=headers,
        encode_chunked=True,
    )
    assert conn.getresponse().status == 201
    assert client_for(emulator).get_pool("chunky").state == "active"


def test_pool_shapes_follow_the_api_version(emulator):
    """targetNodeCommunicationMode exists from 2022-10-01.16.0 to 2024-07-01.20.0 only; an image
    named without a version reads back "latest" (the example Pools_GetPool_Basic)."""
    pool = {
        "id": "p",
        "vmSize": "standard_d2s_v3",
        "virtualMachineConfiguration": {
            "imageReference": {"publisher": "canonical", "offer": "o", "sku": "s"},
            "nodeAgentSKUId": "batch.node.ubuntu 24.04",
        },
        "targetNodeCommunicationMode": "simplified",
    }
    old, new = "2024-07-01.20.0", V25
    assert raw_request(emulator, "POST", "/pools", old, None, json.dumps(pool).encode())[0] == 201
    body = json.dumps(dict(pool, id="q")).encode()  # 2025-06-01 does not declare it: ignored
    assert raw_request(emulator, "POST", "/pools", new, None, body)[0] == 201

    def read(pool_id, version):
        status, _, data = raw_request(emulator, "GET", f"/pools/{pool_id}", version)
        assert status == 200
        return json.loads(data)

    assert read("p", old)["targetNodeCommunicationMode"] == "simplified"
    assert "targetNodeCommunicationMode" not in read("p", new)
    assert "targetNodeCommunicationMode" not in read("q", old)
    assert "targetNodeCommunicationMode" not in read("p", "2022-01-01.15.0")
    listed = json.loads(raw_request(emulator, "GET", "/pools", new)[2])["value"]
    assert all("targetNodeCommunicationMode" not in p for p in listed) and len(listed) == 2
    for pool_id in ("p", "q"):
        image = read(pool_id, new)["virtualMachineConfiguration"]["imageReference"]
        assert image["version"] == "latest"
