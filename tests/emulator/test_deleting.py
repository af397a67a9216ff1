"""Deletes take a while: a deleted pool or job is ``deleting`` (409 ``PoolBeingDeleted``/
``JobBeingDeleted`` to updates, a second delete and a create with its id), then gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from emuhelpers import client_for, pool_options, task, wait_for, wait_task

from batch_emulator.deletion import DEFAULT_DELETE_DELAY
from batch_emulator.server import BatchEmulator


def refusal(call) -> tuple[int, str]:
    with pytest.raises(HttpResponseError) as err:
        call()
    return err.value.status_code, err.value.error.code


def job_options(job_id: str = "j1", pool_id: str = "pool") -> m.BatchJobCreateOptions:
    return m.BatchJobCreateOptions(id=job_id, pool_info=m.BatchPoolInfo(pool_id=pool_id))


def test_a_deleted_job_is_deleting_for_the_default_delay_then_gone(tmp_path):
    """The default behaviour (no delay given): a client that deletes a job with a running task
    and re-creates the id at once meets 409 ``JobBeingDeleted``, as on the service."""
    with BatchEmulator(root=tmp_path) as emu:
        assert emu.store.delete_delay == DEFAULT_DELETE_DELAY >= 2
        c = client_for(emu)
        c.create_pool(pool_options("pool"))
        c.create_job(job_options())
        c.create_task("j1", task("t1", "sleep 30"))
        wait_task(c, "j1", "t1", "running")
        deleted_at = time.monotonic()
        poller = c.begin_delete_job("j1", polling_interval=1)  # the SDK's LRO waits for 404
        assert c.get_job("j1").state == "deleting"
        assert [j.id for j in c.list_jobs()] == ["j1"]
        assert refusal(lambda: c.create_job(job_options())) == (409, "JobBeingDeleted")
        update = m.BatchJobUpdateOptions(priority=5)
        assert refusal(lambda: c.update_job("j1", update)) == (409, "JobBeingDeleted")
        assert refusal(lambda: c.create_task("j1", task("t2"))) == (409, "JobBeingDeleted")
        assert refusal(lambda: c.delete_task("j1", "t1")) == (409, "JobBeingDeleted")
        # the running task's process was killed: nothing sleeps on in the node's name
        wait_for(lambda: not any(t.proc for t in emu.store.job("j1").tasks.values()))

        def gone() -> bool:
            try:
                c.get_job("j1")
            except ResourceNotFoundError:
                return True
            return False

        assert not gone()
        poller.result()  # azure-batch 15's own poller: done once the job answers 404
        assert gone() and time.monotonic() - deleted_at >= DEFAULT_DELETE_DELAY - 0.5
        c.create_job(job_options())  # the id is free again
        assert c.get_job("j1").state == "active"


def test_a_deleted_pool_is_deleting_then_gone(make_emulator):
    emu = make_emulator(delete_delay=1.0)
    c = client_for(emu)
    c.create_pool(pool_options("pool"))
    c.create_job(job_options())
    c.create_task("j1", task("t1", "sleep 30"))
    wait_task(c, "j1", "t1", "running")
    c.begin_delete_pool("pool")  # the LRO's first request; its result() would wait for 404
    pool = c.get_pool("pool")
    assert pool.state == "deleting" and pool.current_dedicated_nodes == 0
    assert list(c.list_nodes("pool")) == []
    # its running task was requeued (as by a resize), and waits: no node runs it
    t1 = wait_task(c, "j1", "t1", "active")
    assert t1.execution_info.requeue_count == 1
    resize = m.BatchPoolResizeOptions(target_dedicated_nodes=1)
    assert refusal(lambda: c.begin_resize_pool("pool", resize)) == (409, "PoolBeingDeleted")
    assert refusal(lambda: c.begin_delete_pool("pool")) == (409, "PoolBeingDeleted")
    assert refusal(lambda: c.create_pool(pool_options("pool"))) == (409, "PoolBeingDeleted")
    wait_for(lambda: "pool" not in [p.id for p in c.list_pools()], timeout=10)
    c.create_pool(pool_options("pool", dedicated=1))  # the same id, a new pool
    assert wait_task(c, "j1", "t1", "running").node_info.pool_id == "pool"


def test_the_command_line_sets_the_delete_delay(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch_emulator", "--no-run", "--delete-delay", "300ms"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        cwd=tmp_path,
    )
    try:
        endpoint = proc.stdout.readline().strip().split(" ", 1)[1]
        c = client_for(endpoint)
        c.create_pool(pool_options("pool"))
        c.create_job(job_options())
        c.begin_delete_job("j1")
        assert c.get_job("j1").state == "deleting"
        time.sleep(0.6)
        assert refusal(lambda: c.get_job("j1")) == (404, "JobNotFound")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
