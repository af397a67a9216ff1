"""The service's documented rules: each violation raises in the SDK with the service's code."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from emuhelpers import client_for, pool_options, task, wait_for


@pytest.fixture
def c(make_emulator):
    client = client_for(make_emulator(run_tasks=False))
    client.create_pool(pool_options("pool"))
    client.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    return client


def code_of(call) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as err:
        call()
    return err.value.status_code, err.value.error.code


def test_at_most_100_tasks_per_collection(c):
    group = m.BatchTaskGroup(task_values=[task(f"t{i}") for i in range(101)])
    assert code_of(lambda: c.create_task_collection("job", group)) == (400, "RequestBodyTooLarge")
    assert (
        len(
            c.create_task_collection(
                "job", m.BatchTaskGroup(task_values=group.task_values[:100])
            ).result_values
        )
        == 100
    )


def test_body_and_property_size_limits(c):
    big = [task(f"b{i}", "echo " + "x" * 20000) for i in range(60)]  # ~1.2 MB in one request
    assert code_of(lambda: c.create_task_collection("job", m.BatchTaskGroup(task_values=big))) == (
        400,
        "RequestBodyTooLarge",
    )
    huge = task("huge", "echo " + "x" * 70000)  # one property > 64 KiB
    assert code_of(lambda: c.create_task("job", huge)) == (400, "RequestBodyTooLarge")
    # the SDK's create_tasks halves the chunk on RequestBodyTooLarge and gets everything in
    result = c.create_tasks("job", big)
    assert sorted(r.task_id for r in result.result_values) == sorted(t.id for t in big)


def test_duplicate_ids_in_collection_and_single_add(c):
    group = m.BatchTaskGroup(task_values=[task("dup"), task("DUP"), task("other")])
    results = {
        (r.task_id, r.status): r for r in c.create_task_collection("job", group).result_values
    }
    assert ("dup", "success") in results and ("other", "success") in results
    assert results[("DUP", "clienterror")].error.code == "TaskExists"
    again = c.create_task_collection(
        "job", m.BatchTaskGroup(task_values=[task("Other")])
    ).result_values
    assert again[0].status == "clienterror" and again[0].error.code == "TaskExists"
    with pytest.raises(ResourceExistsError) as err:
        c.create_task("job", task("dup"))
    assert err.value.status_code == 409 and err.value.error.code == "TaskExists"


@pytest.mark.parametrize("bad", ["has space", "dot.ted", "x" * 65, "slash/ed", "ümlaut"])
def test_id_syntax_and_length(c, bad):
    assert code_of(lambda: c.create_pool(pool_options(bad))) == (400, "InvalidPropertyValue")
    assert code_of(
        lambda: c.create_job(
            m.BatchJobCreateOptions(id=bad, pool_info=m.BatchPoolInfo(pool_id="pool"))
        )
    ) == (400, "InvalidPropertyValue")
    assert code_of(lambda: c.create_task("job", task(bad))) == (400, "InvalidPropertyValue")
    result = c.create_task_collection(
        "job", m.BatchTaskGroup(task_values=[task(bad), task("fine")])
    )
    by_id = {r.task_id: r for r in result.result_values}
    assert by_id[bad].status == "clienterror" and by_id[bad].error.code == "InvalidPropertyValue"
    assert by_id["fine"].status == "success"
    c.create_task("job", task("a" * 64))  # 64 characters is allowed


def test_missing_and_completed_jobs(c):
    with pytest.raises(ResourceNotFoundError) as err:
        c.create_task_collection("nojob", m.BatchTaskGroup(task_values=[task("t")]))
    assert err.value.status_code == 404 and err.value.error.code == "JobNotFound"
    c.update_job("job", m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    assert c.get_job("job").state == "completed"  # no tasks: all (zero) are complete
    assert code_of(lambda: c.create_task("job", task("late"))) == (409, "JobCompleted")
    assert code_of(
        lambda: c.create_task_collection("job", m.BatchTaskGroup(task_values=[task("late")]))
    ) == (409, "JobCompleted")


def test_terminatejob_at_create_completes_an_empty_job_at_once(c):
    c.create_job(
        m.BatchJobCreateOptions(
            id="eager",
            pool_info=m.BatchPoolInfo(pool_id="pool"),
            all_tasks_complete_mode="terminatejob",
        )
    )
    job = c.get_job("eager")
    assert job.state == "completed" and job.execution_info.termination_reason == "AllTasksComplete"
    assert code_of(lambda: c.create_task("eager", task("t"))) == (409, "JobCompleted")


def test_noaction_then_patch_terminatejob_keeps_the_job_until_tasks_finish(make_emulator):
    c = client_for(make_emulator())
    c.create_pool(pool_options("pool"))
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    c.create_tasks("job", [task(f"t{i}", "sleep 0.3") for i in range(3)])
    c.update_job("job", m.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    assert c.get_job("job").state == "active"
    wait_for(lambda: c.get_job("job").state == "completed")
    assert c.get_job_task_counts("job").task_counts.succeeded == 3


def test_existing_job_and_pool(c):
    with pytest.raises(ResourceExistsError) as err:
        c.create_job(m.BatchJobCreateOptions(id="JOB", pool_info=m.BatchPoolInfo(pool_id="pool")))
    assert err.value.error.code == "JobExists"
    with pytest.raises(ResourceExistsError) as err:
        c.create_pool(pool_options("Pool"))
    assert err.value.error.code == "PoolExists"


def test_job_on_missing_pool_is_accepted_and_waits(make_emulator):
    c = client_for(make_emulator())
    c.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="later")))
    c.create_task("job", task("t"))
    import time

    time.sleep(0.5)
    assert c.get_task("job", "t").state == "active"
    c.create_pool(pool_options("later"))
    wait_for(lambda: c.get_task("job", "t").state == "completed")
    assert c.get_task("job", "t").execution_info.exit_code == 0


def test_container_settings_must_match_the_pool(c):
    c.create_pool(pool_options("docker", container=True))
    c.create_job(m.BatchJobCreateOptions(id="cjob", pool_info=m.BatchPoolInfo(pool_id="docker")))
    settings = m.BatchTaskContainerSettings(image_name="busybox")
    assert code_of(lambda: c.create_task("job", task("ct", container_settings=settings))) == (
        400,
        "InvalidPropertyValue",
    )
    assert code_of(lambda: c.create_task("cjob", task("plain"))) == (400, "InvalidPropertyValue")
    c.create_task("cjob", task("ok", container_settings=settings))


def test_job_requires_pool_info(c):
    assert code_of(
        lambda: c.create_job(m.BatchJobCreateOptions(id="nopool", pool_info=m.BatchPoolInfo()))
    ) == (400, "MissingRequiredProperty")
