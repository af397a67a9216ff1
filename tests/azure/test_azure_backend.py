"""`--backend azure` end to end: Azurite for blobs, the project's emulator for Batch."""

import re
import subprocess
import sys
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import yaml
from clihelp import seed_loop, write_spec
from relhelpers import failing, leaked_output

from batch_emulator import DEV_KEY

AZURITE_KEY_FRAGMENT = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6"


def container_name(rig):
    return yaml.safe_load(rig.spec.read_text())["azure"]["storage"]["container"]


def job_id_of(rig, spec):
    return next(p.parent.name for p in (spec.parent / ".superbatch").glob("*/record.json"))


def job_container(rig, spec):
    import json

    record = json.loads(next((spec.parent / ".superbatch").glob("*/record.json")).read_text())
    return record["target"]["job_container"]


def test_demo_on_azure_prints_the_same_value_as_local(demo_rig):
    rig = demo_rig
    result = rig.run("run", rig.spec, "--backend", "azure", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == seed_loop()
    local = rig.run("run", rig.spec, "--backend", "local")
    assert local.last_line == "9.532962532158818"
    assert float(local.last_line) == result.json["result"]


def test_uploaded_blobs_and_task_definitions(demo_rig):
    rig = demo_rig
    spec = rig.spec
    spec.write_text(
        spec.read_text().replace(
            "  storage:", "  inline_inputs: false\n  cleanup: {job: false}\n  storage:"
        )
    )
    started = datetime.now(timezone.utc)
    result = rig.run("run", spec, "--backend", "azure")
    assert result.code == 0, result.stderr
    job_id = job_id_of(rig, spec)
    blobs = sorted(
        b.name for b in rig.container(container_name(rig)).list_blobs(name_starts_with=job_id + "/")
    )
    assert blobs == sorted(
        [f"{job_id}/config.pickle"] + [f"{job_id}/inputs/task-{i:05d}" for i in range(4)]
    )
    # Outputs and logs go to the job's own container, which only this job's tasks can write.
    own = job_container(rig, spec)
    assert own != container_name(rig) and own.startswith(container_name(rig) + "-")
    written = sorted(b.name for b in rig.container(own).list_blobs())
    # One output a task, under a name drawn on the node (128 random bits) that no definition
    # reveals: out/<task-id>/superbatch-output.<32 hex>.
    outs = [b for b in written if b.startswith("out/")]
    assert [b.rsplit(".", 1)[0] for b in outs] == [
        f"out/task-{i:05d}/superbatch-output" for i in range(4)
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", b.rsplit(".", 1)[1]) for b in outs)
    assert len({b.rsplit(".", 1)[1] for b in outs}) == 4
    assert all(b.startswith("out/") or b.startswith(f"logs/{job_id}/") for b in written)

    client = rig.client()
    pool = client.get_pool("superbatch")
    config = pool.virtual_machine_configuration.container_configuration
    assert config.type.lower() == "dockercompatible"
    assert config.container_image_names == ["myregistry.azurecr.io/sum-of-powers:v1"]
    job = client.get_job(job_id)
    assert job.all_tasks_complete_mode.lower() == "terminatejob"
    task = client.get_task(job_id, "task-00002")
    assert task.container_settings.image_name == "myregistry.azurecr.io/sum-of-powers:v1"
    assert task.constraints.max_task_retry_count == 2
    assert task.constraints.max_wall_clock_time.total_seconds() == 3600
    assert task.command_line.startswith("/bin/sh -c ")
    assert "python /app/worker.py" in task.command_line
    files = {r.file_path: r.http_url for r in task.resource_files}
    assert set(files) == {"config.pickle", "inputs.pickle", "taskrunner.pyz"}
    for path, url in files.items():
        query = parse_qs(urlparse(url).query)
        assert query["sp"] == ["r"], path  # read only
        assert query["sr"] == ["b"], path  # one blob, not the container
        expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
        assert (expiry - started).total_seconds() < 3 * 86400  # wall time x tries + 1 day
    assert urlparse(files["inputs.pickle"]).path.endswith(f"/{job_id}/inputs/task-00002")
    # The task runner uploads the output itself: Batch uploads only the logs, and the
    # definition reveals the container's URL and a virtual directory, not the output's name.
    assert [o.file_pattern for o in task.output_files] == ["../std*.txt"]
    container_url, directory = leaked_output(task)
    assert directory == "out/task-00002"
    url = urlparse(container_url)
    assert url.path.endswith(f"/{own}")
    query = parse_qs(url.query)
    # The SAS refers to the container's stored access policy (create + write only), so that
    # superbatch can revoke it when the job is over.
    assert query["si"] == ["superbatch-tasks"] and query["sr"] == ["c"] and "sp" not in query
    policies = rig.container(own).get_container_access_policy()["signed_identifiers"]
    assert policies == []  # revoked: collect ran and the job is over


def test_inline_inputs_need_no_blob_per_task(demo_rig):
    rig = demo_rig
    result = rig.run("run", rig.spec, "--backend", "azure", "--json")
    assert result.code == 0
    job_id = job_id_of(rig, rig.spec)
    names = [
        b.name
        for b in rig.container(container_name(rig)).list_blobs(name_starts_with=job_id + "/inputs/")
    ]
    assert names == []


def failing_job(rig, extra=""):
    (rig.root / "worker" / "w.py").write_text(failing(rig.root / "fixed"))
    return write_spec(
        rig.root,
        (
            "name: azfail\nworker:\n  command: python {worker_dir}/w.py\n  directory: worker\n"
            "  image: example.azurecr.io/w:v1\n  image_directory: /app\n"
            "parameters: {x: {range: [10]}}\ntasks: {points_per_task: 3}\n"
            f"collect: {{reduce: list}}\nazure:\n  storage: {{container: azfail}}\n{extra}"
        ),
    )


def test_chunked_failures_status_logs_retry_and_collect(rig):
    spec = failing_job(rig)
    first = rig.run("run", spec, "--backend", "azure")
    assert first.code == 1
    assert "points 3, 4, 5" in first.stderr  # task-00001 holds points 3-5
    status = rig.run("status", spec, "--backend", "azure", "--json")
    assert status.code == 1
    body = status.json
    assert (body["succeeded"], body["failed"], body["total"]) == (3, 1, 4)
    failure = body["failures"][0]
    assert failure["task_id"] == "task-00001" and failure["exit_code"] == 5
    assert "bad point 4" in failure["stderr_tail"]
    logs = rig.run("logs", spec, "task-00001", "--backend", "azure", "--json")
    assert "point 3" in logs.json["stdout"] and "bad point 4" in logs.json["stderr"]
    (rig.root / "fixed").touch()
    retried = rig.run("retry", spec, "--backend", "azure", "--json")
    assert retried.code == 0 and retried.json["requeued"] == ["task-00001"]
    result = rig.run("collect", spec, "--backend", "azure", "--wait", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [x * 2 for x in range(10)]
    after = rig.run("status", spec, "--backend", "azure", "--json").json
    assert after["failed"] == 0 and after["succeeded"] == 4


def test_missing_credentials_exit_2_before_anything_is_created(demo_rig):
    rig = demo_rig
    for missing, variable in [
        ("AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ENDPOINT"),
        ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE"),
    ]:
        env = dict(rig.env)
        env[missing] = ""
        result = rig.run("submit", rig.spec, "--backend", "azure", env=env)
        assert result.code == 2, result
        assert variable in result.stderr and "Traceback" not in result.stderr
    bad = rig.run(
        "submit", rig.spec, "--backend", "azure", env={"AZURE_BATCH_ACCESS_KEY": "not base64!!"}
    )
    assert bad.code == 2 and "AZURE_BATCH_ACCESS_KEY is not a valid account key" in bad.stderr
    assert "not base64" not in bad.stderr  # the value itself is never echoed
    assert not (rig.spec.parent / ".superbatch").exists()
    assert not rig.container(container_name(rig)).exists()


def test_wrong_key_is_exit_2_naming_the_variables(demo_rig):
    rig = demo_rig
    wrong = "d3Jvbmcga2V5IGZvciB0aGUgZW11bGF0b3I="
    result = rig.run(
        "submit", rig.spec, "--backend", "azure", env={"AZURE_BATCH_ACCESS_KEY": wrong}
    )
    assert result.code == 2
    assert "AZURE_BATCH_ACCESS_KEY" in result.stderr and wrong not in result.stderr
    # tried with a read-only call first: no container, no pool, no state
    assert not rig.container(container_name(rig)).exists()
    assert not (rig.spec.parent / ".superbatch").exists()
    assert list(rig.client().list_pools()) == []
    wrong_storage = rig.connection_string.replace("AccountKey=Eby8", "AccountKey=Xby8")
    result = rig.run(
        "submit",
        rig.spec,
        "--backend",
        "azure",
        env={"AZURE_STORAGE_CONNECTION_STRING": wrong_storage},
    )
    assert result.code == 2 and "AZURE_STORAGE" in result.stderr
    assert not rig.container(container_name(rig)).exists()
    assert not (rig.spec.parent / ".superbatch").exists()
    assert list(rig.client().list_pools()) == []


def test_existing_pool_that_differs_is_reported(demo_rig):
    rig = demo_rig
    assert rig.run("submit", rig.spec, "--backend", "azure").code == 0
    spec = rig.spec
    spec.write_text(
        spec.read_text()
        .replace("vm_size: standard_d2s_v3", "vm_size: standard_d4s_v3")
        .replace("seed: [1, 12, 123, 1234]", "seed: [5]")
    )
    result = rig.run("run", spec, "--backend", "azure", "--new")
    assert result.code == 0, result.stderr
    assert "exists with vm_size standard_d2s_v3; the spec says standard_d4s_v3" in result.stderr


def test_no_secret_in_state_files_or_output(demo_rig):
    rig = demo_rig
    spec = rig.spec
    spec.write_text(spec.read_text().replace("  storage:", "  inline_inputs: false\n  storage:"))
    outputs = [
        rig.run("run", spec, "--backend", "azure", "--json"),
        rig.run("status", spec, "--backend", "azure", "--json"),
    ]
    texts = [o.stdout + o.stderr for o in outputs]
    for path in (spec.parent / ".superbatch").rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode(errors="replace"))
    for text in texts:
        assert DEV_KEY not in text
        assert AZURITE_KEY_FRAGMENT not in text
        assert "sig=" not in text


def test_validate_plan_and_local_runs_do_not_import_the_azure_sdks(demo_rig):
    code = (
        "import sys\nfrom superbatch.cli import cli\n"
        "for args in (['validate', sys.argv[1]], ['plan', sys.argv[1]], ['--help']):\n"
        "    try:\n        cli.main(args=args, standalone_mode=False)\n"
        "    except SystemExit:\n        pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('azure')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(demo_rig.spec)], capture_output=True, text=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_private_registry_credentials_come_from_the_environment(demo_rig):
    rig = demo_rig
    spec = rig.spec
    spec.write_text(
        spec.read_text().replace(
            "  storage:",
            "  registry: {server: myregistry.azurecr.io}\n  cleanup: {job: false}\n  storage:",
        )
    )
    half = rig.run("submit", spec, "--backend", "azure", env={"AZURE_REGISTRY_USERNAME": "puller"})
    assert half.code == 2 and "AZURE_REGISTRY_PASSWORD" in half.stderr
    assert not (spec.parent / ".superbatch").exists()
    password = "registry-password-7f3a9"
    result = rig.run(
        "run",
        spec,
        "--backend",
        "azure",
        "--json",
        env={"AZURE_REGISTRY_USERNAME": "puller", "AZURE_REGISTRY_PASSWORD": password},
    )
    assert result.code == 0, result.stderr
    assert password not in result.stdout + result.stderr
    client = rig.client()
    registries = client.get_pool(
        "superbatch"
    ).virtual_machine_configuration.container_configuration.container_registries
    assert [(r.registry_server, r.username) for r in registries] == [
        ("myregistry.azurecr.io", "puller")
    ]
    task = client.get_task(job_id_of(rig, spec), "task-00000")
    assert task.container_settings.registry.registry_server == "myregistry.azurecr.io"
    for path in (spec.parent / ".superbatch").rglob("*"):
        if path.is_file():
            assert password not in path.read_bytes().decode(errors="replace")
