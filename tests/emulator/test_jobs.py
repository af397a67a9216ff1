"""Job-level settings applied as the service applies them: retry count, wall clock, task failure
action, common environment, task dependencies, and job preparation/release tasks."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from azure.batch import models as m
from azure.batch.models._models import BatchJobTerminateOptions
from azure.core.exceptions import HttpResponseError
from emuhelpers import client_for, pool_options, task, wait_for, wait_task


@pytest.fixture
def c(make_emulator):
    client = client_for(make_emulator())
    client.create_pool(pool_options("pool", dedicated=2))
    return client


def job(c, job_id="job", **kw):
    c.create_job(
        m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id="pool"), **kw)
    )
    return job_id


def out(c, job_id, tid, name="stdout.txt") -> str:
    return b"".join(c.download_task_file(job_id, tid, name)).decode()


def code_of(call) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as err:
        call()
    return err.value.status_code, err.value.error.code


def test_tasks_inherit_the_jobs_max_task_retry_count(c):
    job(c, constraints=m.BatchJobConstraints(max_task_retry_count=2))
    c.create_task("job", task("inherits", "exit 1"))
    c.create_task(
        "job", task("own", "exit 1", constraints=m.BatchTaskConstraints(max_task_retry_count=0))
    )
    assert wait_task(c, "job", "inherits").execution_info.retry_count == 2
    assert wait_task(c, "job", "own").execution_info.retry_count == 0
    assert c.get_task("job", "inherits").constraints.max_task_retry_count == 2


def test_job_max_wall_clock_time_ends_the_job(c):
    job(c, constraints=m.BatchJobConstraints(max_wall_clock_time=timedelta(seconds=1)))
    c.create_task("job", task("slow", "sleep 30"))
    wait_task(c, "job", "slow", "running")
    done = wait_for(lambda: (j := c.get_job("job")).state == "completed" and j, timeout=10)
    assert done.execution_info.termination_reason == "MaxWallClockTimeExpiry"
    t = c.get_task("job", "slow")
    assert t.state == "completed" and t.execution_info.failure_info.code == "TaskEnded"


def test_on_task_failure_terminates_the_job(c):
    job(c, task_failure_mode="performexitoptionsjobaction")
    c.create_task(
        "job",
        task(
            "tolerated",
            "exit 3",
            exit_conditions=m.ExitConditions(
                exit_codes=[
                    m.ExitCodeMapping(code=3, exit_options=m.ExitOptions(job_action="none"))
                ]
            ),
        ),
    )
    wait_task(c, "job", "tolerated")
    assert c.get_job("job").state == "active"
    c.create_task("job", task("fails", "exit 1"))
    done = wait_for(lambda: (j := c.get_job("job")).state == "completed" and j)
    assert done.execution_info.termination_reason == "TaskFailed"
    job(c, "quiet")  # noaction: failures leave the job alone...
    c.create_task("quiet", task("fails", "exit 1"))
    wait_task(c, "quiet", "fails")
    assert c.get_job("quiet").state == "active"
    assert code_of(
        lambda: c.create_task(
            "quiet",
            task(
                "x",
                exit_conditions=m.ExitConditions(  # ...and refuse jobAction
                    default=m.ExitOptions(job_action="terminate")
                ),
            ),
        )
    ) == (400, "InvalidPropertyValue")


def test_common_environment_settings_reach_tasks(c):
    job(
        c,
        common_environment_settings=[
            m.EnvironmentSetting(name="A", value="job"),
            m.EnvironmentSetting(name="B", value="job"),
        ],
    )
    c.create_task(
        "job",
        task(
            "env",
            'echo "$A $B"',
            environment_settings=[m.EnvironmentSetting(name="B", value="task")],
        ),
    )
    wait_task(c, "job", "env")
    assert out(c, "job", "env") == "job task\n"


def test_dependencies_need_a_job_that_uses_them(c):
    job(c)
    deps = m.BatchTaskDependencies(task_ids=["a"])
    assert code_of(lambda: c.create_task("job", task("b", depends_on=deps))) == (
        400,
        "UnsupportedProperty",
    )
    result = c.create_task_collection(
        "job", m.BatchTaskGroup(task_values=[task("b", depends_on=deps)])
    )
    assert result.result_values[0].error.code == "UnsupportedProperty"


def test_task_dependencies_by_id_and_range(make_emulator, tmp_path):
    c = client_for(make_emulator())
    c.create_pool(pool_options("pool", dedicated=4))
    job(c, uses_task_dependencies=True)
    log = tmp_path / "order.log"
    c.create_tasks(
        "job",
        [
            task(
                "final",
                f"echo final >> {log}",
                depends_on=m.BatchTaskDependencies(
                    task_ids=["merge"], task_id_ranges=[m.BatchTaskIdRange(start=1, end=3)]
                ),
            ),
            task(
                "merge",
                f"echo merge >> {log}",
                depends_on=m.BatchTaskDependencies(
                    task_id_ranges=[m.BatchTaskIdRange(start=1, end=3)]
                ),
            ),
            *[task(f"00{i}", f"sleep 0.3; echo {i} >> {log}") for i in (1, 2, 3)],  # 001 is task 1
        ],
    )
    wait_task(c, "job", "final", timeout=20)
    lines = log.read_text().split()
    assert sorted(lines[:3]) == ["1", "2", "3"] and lines[3:] == ["merge", "final"]


def test_a_failed_dependency_blocks_unless_it_satisfies(c):
    job(c, uses_task_dependencies=True)
    c.create_tasks(
        "job",
        [
            task("bad", "exit 1"),
            task(
                "ok-anyway",
                "exit 2",
                exit_conditions=m.ExitConditions(
                    default=m.ExitOptions(dependency_action="satisfy")
                ),
            ),
            task("blocked", depends_on=m.BatchTaskDependencies(task_ids=["bad"])),
            task("runs", depends_on=m.BatchTaskDependencies(task_ids=["ok-anyway"])),
            task("waits", depends_on=m.BatchTaskDependencies(task_ids=["not-yet-added"])),
        ],
    )
    assert wait_task(c, "job", "runs").execution_info.result == "success"
    time.sleep(0.3)
    assert (
        c.get_task("job", "blocked").state == "active"
        and c.get_task("job", "waits").state == "active"
    )
    c.create_task("job", task("not-yet-added"))
    wait_task(c, "job", "waits")


def test_preparation_and_release_tasks_run_once_per_node(c, tmp_path):
    job(
        c,
        job_preparation_task=m.BatchJobPreparationTask(
            command_line='/bin/sh -c "echo prep-$AZ_BATCH_NODE_ID >> prepared; pwd"'
        ),
        job_release_task=m.BatchJobReleaseTask(
            command_line=f'/bin/sh -c "echo released >> {tmp_path}/$AZ_BATCH_NODE_ID"'
        ),
    )
    c.create_tasks(
        "job",
        [
            task(f"t{i}", 'sleep 0.2; cat "$AZ_BATCH_JOB_PREP_WORKING_DIR/prepared"')
            for i in range(6)
        ],
    )
    wait_for(lambda: c.get_job_task_counts("job").task_counts.succeeded == 6)
    nodes = {c.get_task("job", f"t{i}").node_info.node_id for i in range(6)}
    assert len(nodes) == 2
    for i in range(6):
        node = c.get_task("job", f"t{i}").node_info.node_id
        assert out(c, "job", f"t{i}") == f"prep-{node}\n"  # ran once on that node, before
    c.begin_terminate_job(
        "job", BatchJobTerminateOptions(termination_reason="done"), polling_interval=0
    ).result()
    wait_for(lambda: c.get_job("job").state == "completed")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name in nodes) == sorted(nodes)
    assert all((tmp_path / n).read_text() == "released\n" for n in nodes)
    status = list(c.list_job_preparation_and_release_task_status("job"))
    assert {s.node_id for s in status} == nodes
    for s in status:
        prep = s.job_preparation_task_execution_info
        assert prep.state == "completed" and prep.exit_code == 0 and prep.result == "success"
        assert s.job_release_task_execution_info.state == "completed"
        listed = {f.name for f in c.list_node_files("pool", s.node_id, recursive=True)}
        assert "workitems/job/job-1/jobpreparation/wd/prepared" in listed


def test_a_tasks_start_time_is_when_it_runs_not_while_the_preparation_task_runs(c):
    """BatchTaskExecutionInfo.startTime: "'Running' corresponds to the running state ...
    present only for Tasks that are in the running or completed state"; its run time (end
    minus start) is then the node time of the task itself (the bench's node time per point)."""
    job(c, job_preparation_task=m.BatchJobPreparationTask(command_line="/bin/sleep 1"))
    c.create_tasks("job", [task("t", "sleep 0.3")])
    wait_for(lambda: c.get_task("job", "t").state == "preparing", timeout=5)
    assert c.get_task("job", "t").execution_info.start_time is None
    wait_for(lambda: c.get_task("job", "t").state == "completed", timeout=15)
    info = c.get_task("job", "t").execution_info
    prep = next(iter(c.list_job_preparation_and_release_task_status("job")))
    assert info.start_time >= prep.job_preparation_task_execution_info.end_time
    assert 0.3 <= (info.end_time - info.start_time).total_seconds() < 1.0


def test_a_failed_preparation_task_keeps_the_jobs_tasks_off_the_node(c):
    job(c, job_preparation_task=m.BatchJobPreparationTask(command_line="/bin/false"))
    c.create_task("job", task("t"))
    wait_for(lambda: len(list(c.list_job_preparation_and_release_task_status("job"))) == 2)
    wait_for(
        lambda: all(
            s.job_preparation_task_execution_info.state == "completed"
            for s in c.list_job_preparation_and_release_task_status("job")
        )
    )
    time.sleep(0.3)
    t = c.get_task("job", "t")
    assert t.state == "active" and t.execution_info.retry_count == 0
    s = next(iter(c.list_job_preparation_and_release_task_status("job")))
    assert s.job_preparation_task_execution_info.failure_info.code == "FailureExitCode"


def test_task_ids_of_preparation_and_release_are_reserved(c):
    job(
        c,
        job_preparation_task=m.BatchJobPreparationTask(command_line="/bin/true"),
        job_release_task=m.BatchJobReleaseTask(command_line="/bin/true"),
    )
    assert code_of(lambda: c.create_task("job", task("jobpreparation"))) == (
        409,
        "TaskIdSameAsJobPreparationTask",
    )
    assert code_of(lambda: c.create_task("job", task("JobRelease"))) == (
        409,
        "TaskIdSameAsJobReleaseTask",
    )
    assert code_of(
        lambda: job(c, "bad", job_release_task=m.BatchJobReleaseTask(command_line="/bin/true"))
    ) == (400, "InvalidPropertyValue")
