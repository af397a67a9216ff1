"""Fault injection: throttling/busy answers, dropped connections, the --no-run fast path."""

from __future__ import annotations

import time

from azure.batch import models as m
from azure.core.exceptions import AzureError
from emuhelpers import client_for, task


def _setup(emu):
    """Create a pool and a job directly in the store (faults apply only to HTTP requests)."""
    emu.store.create_pool({"id": "pool", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1})
    emu.store.create_job({"id": "job", "poolInfo": {"poolId": "pool"}})


def test_sdk_retries_through_busy_and_throttled_answers(make_emulator):
    emu = make_emulator(fault_rate=0.1, fault_seed=3, run_tasks=False)
    _setup(emu)
    c = client_for(emu)
    for _ in range(20):
        assert c.get_job("job").id == "job"
        assert c.get_job_task_counts("job").task_counts.active == 0
    assert emu.stats["busy"] + emu.stats["throttled"] > 0
    assert emu.stats["requests"] > 40  # the faulted calls were retried


def test_dropped_connections_before_and_after_applying(make_emulator):
    emu = make_emulator(drop_rate=0.5, fault_seed=11, run_tasks=False)
    _setup(emu)
    c = client_for(emu, retry_total=0)
    failed = []
    for i in range(30):
        try:
            c.create_job(
                m.BatchJobCreateOptions(id=f"j{i}", pool_info=m.BatchPoolInfo(pool_id="pool"))
            )
        except AzureError:
            failed.append(f"j{i}")
    applied = [j for j in failed if j in emu.store.jobs]  # dropped after the job was created
    assert len(failed) == emu.stats["dropped"] + emu.stats["dropped_after_apply"]
    assert len(applied) == emu.stats["dropped_after_apply"] > 0
    assert len(failed) > len(applied)


def test_faults_are_deterministic_for_a_seed(make_emulator):
    def run(seed):
        emu = make_emulator(fault_rate=0.3, drop_rate=0.2, fault_seed=seed, run_tasks=False)
        _setup(emu)
        c = client_for(emu, retry_total=0)
        outcome = []
        for _ in range(15):
            try:
                c.get_job("job")
                outcome.append("ok")
            except AzureError as exc:
                outcome.append(type(exc).__name__)
        return outcome

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_no_run_accepts_100_task_collections_fast(make_emulator):
    emu = make_emulator(run_tasks=False)
    _setup(emu)
    c = client_for(emu)
    timings = []
    for chunk in range(10):
        group = m.BatchTaskGroup(task_values=[task(f"t{chunk}-{i}") for i in range(100)])
        started = time.perf_counter()
        result = c.create_task_collection("job", group)
        timings.append(time.perf_counter() - started)
        assert all(r.status == "success" for r in result.result_values)
    assert sorted(timings)[5] < 0.1  # median, SDK serialization included
    time.sleep(0.2)
    assert c.get_job_task_counts("job").task_counts.active == 1000
