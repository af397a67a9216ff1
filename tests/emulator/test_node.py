"""Tasks run like on a compute node: directories, environment, no shell, retries, limits."""

from __future__ import annotations

import time
from datetime import timedelta

from azure.batch import models as m
from emuhelpers import client_for, pool_options, task, wait_for, wait_task

from batch_emulator.images import ImageStandIn


def _out(client, job, tid, name="stdout.txt") -> str:
    return b"".join(client.download_task_file(job, tid, name)).decode()


def test_task_directory_and_environment(emulator, client, job, monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SECRET", "leak")  # the emulator's environment stays out
    env = [m.EnvironmentSetting(name="GREETING", value="hello world")]
    client.create_task(
        job,
        m.BatchTaskCreateOptions(id="env", command_line="/usr/bin/env", environment_settings=env),
    )
    t = wait_task(client, job, "env")
    assert t.execution_info.exit_code == 0 and t.execution_info.result == "success"
    env_vars = dict(line.split("=", 1) for line in _out(client, job, "env").splitlines())
    node_dir = emulator.root / "pool" / t.node_info.node_id
    task_dir = node_dir / "workitems" / "job" / "job-1" / "env"
    assert t.node_info.task_root_directory == "workitems/job/job-1/env"
    assert env_vars == {
        "GREETING": "hello world",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(node_dir / "home" / "_azbatch"),
        "AZ_BATCH_ACCOUNT_NAME": "emulator",
        "AZ_BATCH_ACCOUNT_URL": emulator.endpoint,
        "AZ_BATCH_POOL_ID": "pool",
        "AZ_BATCH_NODE_ID": t.node_info.node_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true",
        "AZ_BATCH_NODE_ROOT_DIR": str(node_dir),
        "AZ_BATCH_NODE_SHARED_DIR": str(node_dir / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(node_dir / "startup"),
        "AZ_BATCH_JOB_ID": "job",
        "AZ_BATCH_TASK_ID": "env",
        "AZ_BATCH_TASK_DIR": str(task_dir),
        "AZ_BATCH_TASK_WORKING_DIR": str(task_dir / "wd"),
        "AZ_BATCH_TASK_USER": "_azbatch",
        "AZ_BATCH_TASK_USER_IDENTITY": "PoolNonAdmin",
    }
    assert (task_dir / "stdout.txt").is_file() and (task_dir / "stderr.txt").is_file()
    assert t.execution_info.start_time <= t.execution_info.end_time


def test_node_path_is_declared_not_inherited(make_emulator, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "only-here").write_text("#!/bin/sh\necho found\n")
    (bindir / "only-here").chmod(0o755)
    monkeypatch.setenv(
        "PATH", f"{bindir}:{__import__('os').environ['PATH']}"
    )  # the caller's PATH has it
    for node_path, outcome in (
        (None, "CommandProgramNotFound"),
        ([str(bindir), "/usr/bin", "/bin"], None),
    ):
        c = client_for(make_emulator(**({"node_path": node_path} if node_path else {})))
        c.create_pool(pool_options("pool"))
        c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
        c.create_task("job", m.BatchTaskCreateOptions(id="t", command_line="only-here"))
        t = wait_task(c, "job", "t")
        if outcome:
            assert (
                t.execution_info.failure_info.code == outcome and t.execution_info.exit_code is None
            )
        else:
            assert t.execution_info.result == "success" and _out(c, "job", "t") == "found\n"


def test_command_line_runs_without_a_shell(client, job):
    client.create_task(
        job, m.BatchTaskCreateOptions(id="noshell", command_line="echo $HOME 'a b' > x")
    )
    wait_task(client, job, "noshell")
    assert _out(client, job, "noshell") == "$HOME a b > x\n"


def test_missing_program(client, job):
    client.create_task(
        job, m.BatchTaskCreateOptions(id="missing", command_line="no-such-program-xyz")
    )
    t = wait_task(client, job, "missing")
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "CommandProgramNotFound"


def test_retries_up_to_max_task_retry_count(client, job):
    script = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; exit 3"
    client.create_task(
        job, task("flaky", script, constraints=m.BatchTaskConstraints(max_task_retry_count=2))
    )
    t = wait_task(client, job, "flaky")
    assert t.execution_info.retry_count == 2 and t.execution_info.exit_code == 3
    assert (
        t.execution_info.failure_info.code == "FailureExitCode"
        and t.execution_info.result == "failure"
    )
    assert (
        b"".join(client.download_task_file(job, "flaky", "wd/count")) == b"3\n"
    )  # 1 try + 2 retries
    counts = client.get_job_task_counts(job).task_counts
    assert (counts.completed, counts.failed, counts.succeeded) == (1, 1, 0)
    client.reactivate_task(job, "flaky")  # runs again, up to the retry count again
    t = wait_task(client, job, "flaky")
    assert b"".join(client.download_task_file(job, "flaky", "wd/count")) == b"6\n"


def test_max_wall_clock_time_kills_the_task(client, job):
    started = time.monotonic()
    client.create_task(
        job,
        task(
            "slow",
            "sleep 20",
            constraints=m.BatchTaskConstraints(
                max_wall_clock_time=timedelta(seconds=0.5), max_task_retry_count=3
            ),
        ),
    )
    t = wait_task(client, job, "slow")
    assert time.monotonic() - started < 5
    assert (
        t.execution_info.result == "failure" and t.execution_info.failure_info.code == "TaskEnded"
    )
    assert t.execution_info.retry_count == 0


def test_concurrency_is_nodes_times_slots(make_emulator):
    c = client_for(make_emulator())
    c.create_pool(pool_options("pool", dedicated=1, spot=1, task_slots_per_node=2))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task(f"t{i}", "sleep 0.6") for i in range(6)])
    peak = wait_for(lambda: (n := c.get_job_task_counts("job").task_counts.running) >= 4 and n)
    assert peak == 4
    wait_for(lambda: c.get_job_task_counts("job").task_counts.completed == 6)
    nodes = {c.get_task("job", f"t{i}").node_info.node_id for i in range(6)}
    assert len(nodes) == 2


def test_pool_without_nodes_runs_nothing(make_emulator):
    c = client_for(make_emulator(no_spot=True))
    c.create_pool(pool_options("spot", dedicated=0, spot=2))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="spot")))
    c.create_task("job", task("t"))
    time.sleep(0.5)
    assert c.get_task("job", "t").state == "active"


def test_terminate_job_kills_running_tasks_and_keeps_active_ones(make_emulator):
    from azure.batch.models._models import BatchJobTerminateOptions

    c = client_for(make_emulator())
    c.create_pool(pool_options("pool", dedicated=1))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task("a", "sleep 30"), task("b", "sleep 30")])
    wait_for(lambda: c.get_job_task_counts("job").task_counts.running == 1)
    c.begin_terminate_job(
        "job", BatchJobTerminateOptions(termination_reason="Stop"), polling_interval=0
    ).result()
    counts = c.get_job_task_counts("job").task_counts
    assert (counts.running, counts.completed, counts.active) == (0, 1, 1)
    assert c.get_job("job").state == "completed"


def test_delete_job_kills_its_tasks(make_emulator, tmp_path):
    c = client_for(make_emulator())
    c.create_pool(pool_options("pool", dedicated=1))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    marker = tmp_path / "marker"
    c.create_task("job", task("a", f"sleep 1; touch {marker}"))
    wait_task(c, "job", "a", "running")
    c.begin_delete_job("job", polling_interval=0).result()
    time.sleep(1.5)
    assert not marker.exists()


def test_container_task_runs_with_its_image_stand_in(make_emulator, tmp_path):
    app, bindir = tmp_path / "app", tmp_path / "imagebin"
    app.mkdir()
    bindir.mkdir()
    (app / "hello.sh").write_text('echo from-mounted-app "$IMAGE_VAR"\n')
    (bindir / "image-tool").write_text("#!/bin/sh\necho tool-in-image\n")
    (bindir / "image-tool").chmod(0o755)
    image = ImageStandIn(
        mounts={"/app": str(app)},
        path=[str(bindir), "/usr/bin", "/bin"],
        env={"IMAGE_VAR": "set-by-image"},
        workdir="/app",
    )
    c = client_for(make_emulator(images={"myregistry.azurecr.io/app:v1": image}))
    c.create_pool(pool_options("docker", container=True))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="docker")))
    settings = m.BatchTaskContainerSettings(image_name="myregistry.azurecr.io/app:v1")
    c.create_task(
        "job",
        m.BatchTaskCreateOptions(
            id="direct", command_line="/bin/sh /app/hello.sh", container_settings=settings
        ),
    )
    c.create_task(
        "job",
        task(
            "inner",
            "sh /app/hello.sh && echo /application && image-tool",
            container_settings=settings,
        ),
    )
    c.create_task(
        "job",
        m.BatchTaskCreateOptions(
            id="imagedir",
            command_line="/bin/pwd",
            container_settings=m.BatchTaskContainerSettings(
                image_name="myregistry.azurecr.io/app:v1", working_directory="containerImageDefault"
            ),
        ),
    )
    c.create_task(
        "job",
        task(
            "unknown",
            "echo never",
            container_settings=m.BatchTaskContainerSettings(
                image_name="myregistry.azurecr.io/other:v2"
            ),
        ),
    )
    for tid in ("direct", "inner", "imagedir"):
        assert wait_task(c, "job", tid).execution_info.exit_code == 0
    assert _out(c, "job", "direct") == "from-mounted-app set-by-image\n"
    assert _out(c, "job", "inner") == "from-mounted-app set-by-image\n/application\ntool-in-image\n"
    assert _out(c, "job", "imagedir") == f"{app}\n"
    failed = wait_task(c, "job", "unknown").execution_info
    assert failed.result == "failure" and failed.exit_code is None
    assert (
        failed.failure_info.category == "usererror"
        and failed.failure_info.code == "ContainerInvalidImage"
    )
    assert {d.name: d.value for d in failed.failure_info.details}[
        "ContainerImage"
    ] == "myregistry.azurecr.io/other:v2"


def test_preempted_tasks_are_requeued_and_rerun(make_emulator):
    c = client_for(make_emulator(preempt_rate=0.5, fault_seed=7))
    c.create_pool(pool_options("pool", dedicated=0, spot=4))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task(f"t{i}", "echo done") for i in range(8)])
    wait_for(lambda: c.get_job_task_counts("job").task_counts.completed == 8)
    tasks = list(c.list_tasks("job"))
    assert all(
        t.execution_info.result == "success" and t.execution_info.retry_count == 0 for t in tasks
    )
    assert sum(t.execution_info.requeue_count for t in tasks) > 0
    requeued = next(t for t in tasks if t.execution_info.requeue_count)
    assert _out(c, "job", requeued.id) == "done\n"
