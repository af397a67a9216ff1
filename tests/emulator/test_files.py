"""Resource files in and output files out through Azurite with real SAS URLs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)
from emuhelpers import task, wait_task
from services import AZURITE_ACCOUNT, AZURITE_KEY

EXPIRY = datetime.now(timezone.utc) + timedelta(hours=1)


@pytest.fixture
def storage(azurite):
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.create_container(f"c{datetime.now().strftime('%H%M%S%f')}")
    yield azurite, container
    container.delete_container()


def container_url(azurite, name: str, perms: str) -> str:
    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        name,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions.from_string(perms),
        expiry=EXPIRY,
    )
    return f"{azurite.blob_endpoint}/{name}?{sas}"


def blob_url(azurite, container: str, blob: str) -> str:
    sas = generate_blob_sas(
        AZURITE_ACCOUNT,
        container,
        blob,
        account_key=AZURITE_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=EXPIRY,
    )
    return f"{azurite.blob_endpoint}/{container}/{blob}?{sas}"


def output(
    pattern: str, url: str, path: str | None = None, when: str = "taskcompletion"
) -> m.OutputFile:
    return m.OutputFile(
        file_pattern=pattern,
        destination=m.OutputFileDestination(
            container=m.OutputFileBlobContainerDestination(container_url=url, path=path)
        ),
        upload_options=m.OutputFileUploadConfiguration(upload_condition=when),
    )


def test_resource_files_in_and_outputs_out(client, job, storage):
    azurite, container = storage
    container.upload_blob("inputs/config.txt", b"power=3\n")
    container.upload_blob("shared/a.txt", b"A")
    container.upload_blob("shared/sub/b.txt", b"B")
    write_url = container_url(azurite, container.container_name, "rwl")
    resources = [
        m.ResourceFile(
            http_url=blob_url(azurite, container.container_name, "inputs/config.txt"),
            file_path="config.txt",
        ),
        m.ResourceFile(
            storage_container_url=container_url(azurite, container.container_name, "rl"),
            blob_prefix="shared/",
            file_path="data",
        ),
    ]
    outputs = [
        output("result.txt", write_url, "out/t1/result.txt", "tasksuccess"),
        output("../std*.txt", write_url, "out/t1/logs"),
        output("res/**/*.json", write_url, "out/t1/json"),
        output("result.txt", write_url, "out/t1/never.txt", "taskfailure"),
    ]
    script = (
        "cat config.txt data/shared/a.txt data/shared/sub/b.txt > result.txt; "
        "mkdir -p res/x; echo 1 > res/one.json; echo 2 > res/x/two.json; echo logged"
    )
    client.create_task(job, task("t1", script, resource_files=resources, output_files=outputs))
    t = wait_task(client, job, "t1")
    assert t.execution_info.result == "success", t.execution_info.failure_info
    blobs = {b.name for b in container.list_blobs(name_starts_with="out/")}
    assert blobs == {
        "out/t1/result.txt",
        "out/t1/logs/stdout.txt",
        "out/t1/logs/stderr.txt",
        "out/t1/json/one.json",
        "out/t1/json/x/two.json",
    }
    assert container.download_blob("out/t1/result.txt").readall() == b"power=3\nAB"
    assert container.download_blob("out/t1/logs/stdout.txt").readall() == b"logged\n"


def test_upload_to_missing_container_fails_the_task(client, job, storage):
    azurite, _ = storage
    url = container_url(azurite, "does-not-exist", "rwl")
    client.create_task(
        job, task("t2", "echo x > r.txt", output_files=[output("r.txt", url, "r.txt")])
    )
    t = wait_task(client, job, "t2")
    assert t.state == "completed" and t.execution_info.exit_code == 0
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "FileUploadContainerNotFound"
    assert t.execution_info.failure_info.category == "usererror"


def test_missing_resource_file_fails_before_running(client, job, storage):
    azurite, container = storage
    client.create_task(
        job,
        task(
            "t3",
            "echo ran",
            resource_files=[
                m.ResourceFile(
                    http_url=blob_url(azurite, container.container_name, "nope.txt"), file_path="x"
                )
            ],
        ),
    )
    t = wait_task(client, job, "t3")
    assert (
        t.execution_info.result == "failure"
        and t.execution_info.failure_info.code == "BlobNotFound"
    )
    assert t.execution_info.exit_code is None


def test_resource_file_path_cannot_escape(client, job, storage):
    azurite, container = storage
    container.upload_blob("f.txt", b"x")
    client.create_task(
        job,
        task(
            "t4",
            "echo ran",
            resource_files=[
                m.ResourceFile(
                    http_url=blob_url(azurite, container.container_name, "f.txt"),
                    file_path="../../evil",
                )
            ],
        ),
    )
    t = wait_task(client, job, "t4")
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "ResourceFileCreateFailed"
