"""The emulator driven by clients nobody on this project wrote: the Node.js SDK ``@azure/batch``
10.2.0 (api-version 2022-10-01.16.0), the Azure CLI 2.91 (``az batch``, 2024-02-01.19.0) and
azure-batch 14.2 (the msrest-based generation, 2024-02-01.19.0, in its own environment).
Each talks through a recording proxy, and every answer it got is checked against the REST
definition. Marked ``clients`` (``-m 'not clients'`` leaves them out); ``make test`` runs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from clients.install import REPO, az_binary, batch14_python
from recorder import Recorder

from batch_emulator import DEV_ACCOUNT, DEV_KEY

pytestmark = pytest.mark.clients
NODE_SCRIPT = Path(__file__).parent / "clients" / "node_batch.js"


@pytest.fixture(scope="session")
def az():
    return az_binary()


def _versions(rec: Recorder) -> set[str]:
    return {
        q.split("=", 1)[1]
        for ex in rec.exchanges
        for q in ex.query.split("&")
        if q.startswith("api-version=")
    }


def test_node_sdk(make_emulator):
    node = shutil.which("node") or "/usr/bin/node"
    assert (REPO / "node_modules" / "@azure" / "batch" / "package.json").is_file(), (
        "run `make setup`"
    )
    emu = make_emulator()
    with Recorder(emu.endpoint) as rec:
        proc = subprocess.run(
            [node, str(NODE_SCRIPT), rec.endpoint, DEV_ACCOUNT, DEV_KEY],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert _versions(rec) == {"2022-10-01.16.0"} == {out["apiVersion"]}
    assert out["added"] == ["success"] * 14 and out["duplicate"] == {
        "status": 409,
        "code": "TaskExists",
    }
    assert out["counts"] == {
        "active": 0,
        "running": 0,
        "completed": 15,
        "succeeded": 14,
        "failed": 1,
    }
    assert (out["listed"], out["pages"]) == (15, 3)  # odata.nextLink followed
    assert out["flaky"] == {
        "retryCount": 1,
        "code": "FailureExitCode",
        "exitCode": 4,
    }  # the job's retry count
    assert out["firstStdout"] == "common\n"  # commonEnvironmentSettings
    assert out["afterStdout"] == "prepared\n"  # after its dependency and the prep task
    assert out["files"] == ["stderr.txt", "stdout.txt", "wd"]
    assert (out["nodes"], out["nodeState"], out["prep"]) == (2, "idle", ["completed", "completed"])
    assert out["missing"] == {"status": 404, "code": "JobNotFound"}
    assert out["etagMatch"] == {"status": 412, "code": "ConditionNotMet"} and out["priority"] == 3
    assert out["poolDeleting"] == "deleting"
    assert out["jobState"] == "completed" and out["poolGone"] == {
        "status": 404,
        "code": "PoolNotFound",
    }
    deletes = [ex for ex in rec.exchanges if ex.method == "DELETE"]
    assert deletes and all("Content-Length" not in ex.request_headers for ex in deletes)
    assert all(ex.status < 500 for ex in rec.exchanges)
    assert {
        "BatchTaskListResult",
        "BatchNodeListResult",
        "BatchNode",
        "BatchNodeFileListResult",
        "BatchCreateTaskCollectionResult",
        "BatchError",
        "BatchJob",
    } <= rec.validate_all()


AZ_ENV = {
    "PATH": "/usr/bin:/bin",
    "AZURE_CORE_COLLECT_TELEMETRY": "no",
    "AZURE_CORE_ONLY_SHOW_ERRORS": "1",
    # anything but the emulator would go to a closed local port: nothing leaves the machine
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1",
}


def az_env(tmp_path) -> dict:
    return dict(AZ_ENV, HOME=str(tmp_path), AZURE_CONFIG_DIR=str(tmp_path / "azcfg"))


def test_azure_cli(make_emulator, az, tmp_path):
    emu = make_emulator()
    env = az_env(tmp_path)
    with Recorder(emu.endpoint) as rec:
        account = [
            "--account-endpoint",
            rec.endpoint,
            "--account-name",
            DEV_ACCOUNT,
            "--account-key",
            DEV_KEY,
        ]

        def run(*args, ok=True):
            proc = subprocess.run(
                [str(az), "batch", *args, *account],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
                timeout=120,
            )
            assert (proc.returncode == 0) == ok, proc.stderr
            return proc

        pool = {
            "id": "azpool",
            "vmSize": "standard_d2s_v3",
            "targetDedicatedNodes": 2,
            "virtualMachineConfiguration": {
                "imageReference": {
                    "publisher": "canonical",
                    "offer": "ubuntu-24_04-lts",
                    "sku": "server",
                    "version": "latest",
                },
                "nodeAgentSKUId": "batch.node.ubuntu 24.04",
            },
        }
        (tmp_path / "pool.json").write_text(json.dumps(pool))
        run("pool", "create", "--json-file", "pool.json")
        run("job", "create", "--id", "azjob", "--pool-id", "azpool")
        run(
            "task",
            "create",
            "--job-id",
            "azjob",
            "--task-id",
            "t1",
            "--command-line",
            "/bin/sh -c 'mkdir -p sub && echo hi > sub/x.txt && echo hello'",
        )
        for _ in range(100):
            state = json.loads(
                run("task", "show", "--job-id", "azjob", "--task-id", "t1", "-o", "json").stdout
            )
            if state["state"] == "completed":
                break
        assert (
            state["executionInfo"]["exitCode"] == 0
            and state["executionInfo"]["result"] == "success"
        )
        names = run(
            "task",
            "file",
            "list",
            "--job-id",
            "azjob",
            "--task-id",
            "t1",
            "--recursive",
            "--query",
            "[].name",
            "-o",
            "tsv",
        ).stdout.split()
        assert {"stdout.txt", "stderr.txt", "wd", "wd/sub", "wd/sub/x.txt"} <= set(names)
        run(
            "task",
            "file",
            "download",
            "--job-id",
            "azjob",
            "--task-id",
            "t1",
            "--file-path",
            "stdout.txt",
            "--destination",
            str(tmp_path / "out.txt"),
        )
        assert (tmp_path / "out.txt").read_text() == "hello\n"
        nodes = run(
            "node", "list", "--pool-id", "azpool", "--query", "[].id", "-o", "tsv"
        ).stdout.split()
        assert len(nodes) == 2
        listed = json.loads(
            run(
                "task",
                "list",
                "--job-id",
                "azjob",
                "--filter",
                "(state eq 'completed') and (startswith(id,'t') or id eq 'x')",
                "-o",
                "json",
            ).stdout
        )
        assert [t["id"] for t in listed] == ["t1"]
        missing = run("job", "show", "--job-id", "nope", ok=False)
        assert "JobNotFound" in missing.stderr
        run("job", "delete", "--job-id", "azjob", "--yes")
        run("pool", "delete", "--pool-id", "azpool", "--yes")
    assert _versions(rec) == {"2024-02-01.19.0"}
    assert all(ex.status < 500 for ex in rec.exchanges)
    assert {
        "BatchTask",
        "BatchNodeFileListResult",
        "BatchNodeListResult",
        "BatchError",
    } <= rec.validate_all()


def az_batch(az, endpoint: str, tmp_path, *args) -> subprocess.CompletedProcess:
    """``az batch ARGS`` against ``endpoint`` with the emulator's account."""
    account = ["--account-endpoint", endpoint, "--account-name", DEV_ACCOUNT]
    return subprocess.run(
        [str(az), "batch", *args, *account, "--account-key", DEV_KEY],
        capture_output=True,
        text=True,
        env=az_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )


def test_azure_cli_integer_flags(make_emulator, az, tmp_path):
    """The CLI sends its integer flags as JSON strings ("targetDedicatedNodes": "2"), which the
    service reads as numbers: pool create/resize, job create/set and task create all work, and
    the documented ranges still hold."""
    emu = make_emulator()

    def ok(*args):
        proc = az_batch(az, emu.endpoint, tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    image = ["--image", "canonical:ubuntu-24_04-lts:server"]
    sku = ["--node-agent-sku-id", "batch.node.ubuntu 24.04"]
    ok("pool", "create", "--id", "fp", "--vm-size", "standard_d2s_v3", *image, *sku,
       "--target-dedicated-nodes", "2", "--task-slots-per-node", "3")  # fmt: skip
    pool = ok("pool", "show", "--pool-id", "fp", "-o", "json")
    assert (pool["targetDedicatedNodes"], pool["currentDedicatedNodes"]) == (2, 2)
    assert pool["taskSlotsPerNode"] == 3
    # --image names no version: it reads back "latest", as in the example Pools_GetPool_Basic
    assert pool["virtualMachineConfiguration"]["imageReference"]["version"] == "latest"
    ok("pool", "resize", "--pool-id", "fp", "--target-dedicated-nodes", "1")
    ok("job", "create", "--id", "fj", "--pool-id", "fp", "--priority", "10",
       "--max-parallel-tasks", "4", "--job-max-task-retry-count", "2")  # fmt: skip
    ok("job", "set", "--job-id", "fj", "--priority", "-20", "--max-parallel-tasks", "5")
    job = ok("job", "show", "--job-id", "fj", "-o", "json")
    assert (job["priority"], job["maxParallelTasks"]) == (-20, 5)
    ok("task", "create", "--job-id", "fj", "--task-id", "t", "--command-line", "/bin/true",
       "--max-task-retry-count", "3")  # fmt: skip
    assert (
        ok("task", "show", "--job-id", "fj", "--task-id", "t", "-o", "json")["constraints"][
            "maxTaskRetryCount"
        ]
        == 3
    )
    bad = az_batch(az, emu.endpoint, tmp_path, "job", "set", "--job-id", "fj", "--priority", "5000")
    assert bad.returncode != 0 and "InvalidPropertyValue" in bad.stderr
    assert "-1000 to 1000" in bad.stderr
    bad = az_batch(az, emu.endpoint, tmp_path, "pool", "create", "--id", "fp2",
                   "--vm-size", "standard_d2s_v3", *image, *sku, "--task-slots-per-node", "1000")  # fmt: skip
    assert bad.returncode != 0 and "taskSlotsPerNode" in bad.stderr
    assert ok("job", "show", "--job-id", "fj", "-o", "json")["priority"] == -20


def test_azure_batch_14(make_emulator):
    """The older SDK generation (msrest, api-version 2024-02-01.19.0) meets the emulator's
    start tasks, documented ranges, auto pools, refused multi-instance tasks and deletes."""
    emu = make_emulator(delete_delay=1.0)
    with Recorder(emu.endpoint) as rec:
        proc = subprocess.run(
            [
                str(batch14_python()),
                str(Path(__file__).parent / "clients" / "batch14.py"),
                rec.endpoint,
                DEV_ACCOUNT,
                DEV_KEY,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert _versions(rec) == {"2024-02-01.19.0"} == {seen["apiVersion"]}
    assert seen["startTask"] == {"state": "starttaskfailed", "exitCode": 1, "retryCount": 1}
    assert seen["priority"] == seen["slots"] == {"status": 400, "code": "InvalidPropertyValue"}
    assert seen["autoPoolListed"] and seen["autoPoolGone"] and seen["task"] == "success"
    assert seen["multiInstance"] == {"status": 400, "code": "UnsupportedProperty"}
    assert seen["deletingState"] == "deleting"
    assert seen["recreate"] == {"status": 409, "code": "JobBeingDeleted"}
    assert seen["afterDelete"] == {"status": 404, "code": "JobNotFound"}
    assert all(ex.status < 500 for ex in rec.exchanges)
    assert {"BatchNodeListResult", "BatchJob", "BatchTask", "BatchError"} <= rec.validate_all()
