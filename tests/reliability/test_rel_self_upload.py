"""Issue 22, item 2 (round three): a task the task runner runs uploads its own output.

The blob's name is drawn in memory, so nothing on the node names it: someone who lists the
task's files through the Batch API (who can also read its SAS) finds no name to overwrite.
Large outputs go as blocks; a failed upload fails the task without showing the SAS.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from relhelpers import job_spec, leaked_output

from superbatch.taskrunner import upload

AZURE = ("--backend", "azure")
OUTPUT_BLOB = re.compile(r"out/task-\d{5}/superbatch-output\.[0-9a-f]{32}")


def node_files(client, job_id: str, task_id: str) -> list[str]:
    return [f.name for f in client.list_task_files(job_id, task_id, recursive=True)]


@pytest.mark.parametrize("points_per_task", [1, 2])
def test_no_file_on_the_node_names_a_tasks_output(rig, points_per_task):
    tasks = f"{{points_per_task: {points_per_task}, max_retries: 0}}"
    spec = job_spec(
        rig.root, f"noname{points_per_task}", 4, tasks=tasks, extra="  cleanup: {job: false}\n"
    )
    done = rig.run("run", spec, *AZURE, "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 2, 4, 6]  # collect read each task's true output
    job_id = done.json["job_id"]
    client = rig.client()
    task_ids = [t.id for t in client.list_tasks(job_id)]
    assert len(task_ids) == 4 // points_per_task
    container_url, _ = leaked_output(client.get_task(job_id, task_ids[0]))
    own = rig.container(container_url.split("?")[0].rsplit("/", 1)[1])
    uploaded = sorted(b.name for b in own.list_blobs(name_starts_with="out/"))
    assert len(uploaded) == len(task_ids) and all(OUTPUT_BLOB.fullmatch(b) for b in uploaded)
    for task_id in task_ids:
        files = node_files(client, job_id, task_id)
        assert any(name.endswith("stderr.txt") for name in files)  # the listing works
        assert not [f for f in files if "superbatch-output" in f], (task_id, files)
        # nor the output under another name (the worker's file, the runner's or a tar)
        outputs = [f for f in files if f.rsplit("/", 1)[-1] in ("outputs.pickle", "outputs.tar")]
        assert outputs == [], (task_id, files)
        nonce = next(b for b in uploaded if b.startswith(f"out/{task_id}/")).rsplit(".", 1)[1]
        for log in ("stdout.txt", "stderr.txt"):
            text = b"".join(client.download_task_file(job_id, task_id, log)).decode()
            assert nonce not in text


def sas_url(container, permission: ContainerSasPermissions) -> str:
    sas = generate_container_sas(
        container.account_name,
        container.container_name,
        account_key=container.credential.account_key,
        permission=permission,
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    return f"{container.url}?{sas}"


@pytest.fixture
def output_container(azurite, tmp_path):
    from azure.storage.blob import BlobServiceClient

    name = f"selfup{abs(hash(str(tmp_path))) % 10**8}"
    container = BlobServiceClient.from_connection_string(
        azurite.connection_string
    ).get_container_client(name)
    container.create_container()
    try:
        yield container
    finally:
        container.delete_container()


@pytest.mark.parametrize("size", [999, 1000, 1001, 2500])
def test_a_large_output_goes_as_blocks(output_container, tmp_path, size):
    """The thresholds lowered to 1000 bytes and blocks of 300: the block path, with a SAS
    of create + write only, as a task's."""
    data = os.urandom(size)
    path = tmp_path / "outputs.pickle"
    path.write_bytes(data)
    url = sas_url(output_container, ContainerSasPermissions(create=True, write=True))
    prefix = "out/task-00007/superbatch-output."
    upload.upload(str(path), url, prefix, put_blob_limit=1000, block_size=300)
    [blob] = list(output_container.list_blobs())
    assert re.fullmatch(r"out/task-00007/superbatch-output\.[0-9a-f]{32}", blob.name)
    assert output_container.download_blob(blob.name).readall() == data
    committed, _ = output_container.get_blob_client(blob.name).get_block_list("committed")
    assert len(committed) == (0 if size <= 1000 else -(-size // 300))


def test_an_upload_the_service_refuses_fails_without_showing_the_sas(output_container, tmp_path):
    path = tmp_path / "outputs.pickle"
    path.write_bytes(b"x" * 2000)
    url = sas_url(output_container, ContainerSasPermissions(read=True))  # no write
    signature = re.search(r"sig=([^&]+)", url).group(1)
    for limit in (upload.PUT_BLOB_LIMIT, 1000):  # one Put Blob, then a block
        with pytest.raises(upload.UploadFailed) as refused:
            upload.upload(str(path), url, "out/t/superbatch-output.", put_blob_limit=limit)
        assert "HTTP 403" in str(refused.value)
        assert signature not in str(refused.value) and "sig=" not in str(refused.value)
    assert list(output_container.list_blobs()) == []


SLOW_DOUBLE = (
    "import joblib, time\nx = joblib.load('inputs.pickle')['x']\ntime.sleep(3)\n"
    "joblib.dump(x * 2, 'outputs.pickle')\n"
)


def test_a_failed_upload_fails_the_task_without_printing_the_sas(rig):
    """The job's output container deleted while its task runs: the task fails (exit 93)
    with the service's answer in its stderr, and the SAS is nowhere in what it printed."""
    spec = job_spec(rig.root, "lost", 1, worker=SLOW_DOUBLE, extra="  cleanup: {job: false}\n")
    submitted = rig.run("submit", spec, *AZURE, "--json")
    assert submitted.code == 0, submitted.stderr
    job_id = submitted.json["job_id"]
    client = rig.client()
    deadline = time.monotonic() + 60
    while client.get_task(job_id, "task-00000").state != "running":
        assert time.monotonic() < deadline, "the task never ran"
        time.sleep(0.05)
    container_url, _ = leaked_output(client.get_task(job_id, "task-00000"))
    signature = re.search(r"sig=([^&]+)", container_url).group(1)
    rig.container(container_url.split("?")[0].rsplit("/", 1)[1]).delete_container()
    while client.get_task(job_id, "task-00000").state != "completed":
        assert time.monotonic() < deadline, "the task never completed"
        time.sleep(0.05)
    info = client.get_task(job_id, "task-00000").execution_info
    assert info.exit_code == 93
    stderr = b"".join(client.download_task_file(job_id, "task-00000", "stderr.txt")).decode()
    # The SAS names the container's stored access policy, gone with the container.
    assert "could not upload the task's output: HTTP 403 (AuthorizationFailure)" in stderr
    stdout = b"".join(client.download_task_file(job_id, "task-00000", "stdout.txt")).decode()
    assert signature not in stderr + stdout and "sig=" not in stderr + stdout
    status = rig.run("status", spec, *AZURE, "--json")
    assert signature not in status.stdout + status.stderr
