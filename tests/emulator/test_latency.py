"""``--latency``: every answer waits at least the delay, without holding up other connections."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from emuhelpers import client_for

from batch_emulator.latency import Latency, parse_delay


@pytest.mark.parametrize(
    "text, seconds",
    [("50ms", 0.05), ("0.05s", 0.05), ("500us", 0.0005), ("0", 0.0), (" 20 MS ", 0.02)],
)
def test_delays_parse_with_their_unit(text, seconds):
    assert parse_delay(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["50", "fast", "-5ms", "5m", "2min"])
def test_a_delay_without_a_unit_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match="e.g. 50ms"):
        parse_delay(text)


def test_jitter_stays_within_its_bounds_and_is_reproducible():
    latency = Latency(0.05, 0.01, seed=3)
    draws = [latency.draw() for _ in range(200)]
    assert all(0.04 <= d <= 0.06 for d in draws) and len(set(draws)) > 100
    again = Latency(0.05, 0.01, seed=3)
    assert [again.draw() for _ in range(200)] == draws
    assert min(Latency(0.001, 0.01).draw() for _ in range(100)) >= 0.0


def test_each_request_waits_at_least_the_latency(make_emulator):
    emu = make_emulator(latency=0.2)
    client = client_for(emu)
    start = time.perf_counter()
    list(client.list_pools())
    assert time.perf_counter() - start >= 0.2


def test_requests_on_other_connections_are_not_held_up(make_emulator):
    emu = make_emulator(latency=0.3)
    clients = [client_for(emu) for _ in range(8)]
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda c: list(c.list_pools()), clients))
    elapsed = time.perf_counter() - start
    assert 0.3 <= elapsed < 1.2  # eight at once, not 8 x 0.3 s


@pytest.mark.parametrize("option", ["--latency", "--task-counts-lag", "--delete-delay"])
def test_the_command_line_names_the_bad_value(option):
    proc = subprocess.run(
        [sys.executable, "-m", "batch_emulator", option, "50"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert option in proc.stderr and "e.g. 50ms" in proc.stderr


def test_task_counts_can_lag_behind_as_the_service_warns(make_emulator):
    from azure.batch import models as m
    from emuhelpers import pool_options

    emu = make_emulator(task_counts_lag=1.5, run_tasks=False)
    client = client_for(emu)
    client.create_pool(pool_options("pool"))
    client.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))

    def active() -> int:
        return client.get_job_task_counts("job").task_counts.active

    client.create_task_collection(
        "job",
        m.BatchTaskGroup(
            task_values=[
                m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)
            ]
        ),
    )
    assert active() == 0  # a snapshot from before the tasks, not yet up to date
    assert len(list(client.list_tasks("job"))) == 3  # the listing is exact at once
    time.sleep(1.6)
    assert active() == 3
    client.delete_task("job", "t0")
    assert active() == 3  # still the earlier count
    time.sleep(1.6)
    assert active() == 2
    assert make_emulator().store.counts_lag == 0.0  # off unless asked for
