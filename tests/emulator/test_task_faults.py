"""A fault in a task ends that task as the service would (failureInfo), never the node; resource
files come from any URL the node can read."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.batch import models as m
from emuhelpers import task, wait_task


@pytest.fixture
def web(tmp_path):
    """An ordinary web server (not blob storage) on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.root, server.url = root, f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def failure(client, job, tid):
    info = wait_task(client, job, tid).execution_info
    assert info.result == "failure"
    return info.failure_info


def test_resource_files_from_an_ordinary_web_server(client, job, web):
    (web.root / "data.txt").write_text("from the web\n")
    client.create_task(
        job,
        task(
            "web",
            "cat in/data.txt; stat -c %a in/data.txt",
            resource_files=[
                m.ResourceFile(http_url=f"{web.url}/data.txt", file_path="in/data.txt")
            ],
        ),
    )
    assert wait_task(client, job, "web").execution_info.result == "success"
    assert b"".join(client.download_task_file(job, "web", "stdout.txt")) == b"from the web\n770\n"
    client.create_task(
        job,
        task(
            "missing",
            resource_files=[m.ResourceFile(http_url=f"{web.url}/nope.txt", file_path="x")],
        ),
    )
    info = failure(client, job, "missing")
    assert (info.category, info.code) == ("usererror", "BlobNotFound")
    client.create_task(
        job,
        task(
            "unreachable",
            resource_files=[m.ResourceFile(http_url="http://127.0.0.1:9/x", file_path="x")],
        ),
    )
    assert failure(client, job, "unreachable").code == "BlobDownloadMiscError"


@pytest.mark.parametrize(
    "command_line", ["/bin/sh -c 'unbalanced", "/no/such/program", "/etc/hostname"]
)
def test_bad_command_lines_fail_the_task(client, job, command_line):
    client.create_task(job, m.BatchTaskCreateOptions(id="bad", command_line=command_line))
    info = failure(client, job, "bad")
    assert (info.category, info.code) == ("usererror", "CommandProgramNotFound")
    assert {d.name for d in info.details} == {"CommandLine", "Message"}
    assert client.get_task(job, "bad").execution_info.exit_code is None


def test_an_internal_fault_ends_the_task_not_the_node(client, job, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("batch_emulator.node.upload_outputs", broken)
    client.create_task(job, task("victim"))
    info = failure(client, job, "victim")
    assert info.category == "servererror" and "disk on fire" in info.message
    monkeypatch.undo()
    client.create_task(job, task("next", "echo ok"))  # the node still works
    assert wait_task(client, job, "next").execution_info.result == "success"
    counts = client.get_job_task_counts(job)
    assert counts.task_counts.running == 0 and counts.task_slot_counts.running == 0


def test_a_bad_file_mode_fails_the_task(client, job, web):
    (web.root / "f").write_text("x")
    client.create_task(
        job,
        task(
            "mode",
            resource_files=[
                m.ResourceFile(http_url=f"{web.url}/f", file_path="f", file_mode="999")
            ],
        ),
    )
    assert failure(client, job, "mode").code == "ResourceFileCreateFailed"
