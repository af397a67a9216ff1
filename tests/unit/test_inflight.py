"""How many add-collection requests are in flight: never more than the limit, more while the
round trip is latency, not more once the service is saturated, fewer when it throttles.

The service is simulated on a fake clock (Little's law: ``limit`` requests in flight, each
taking the round trip, complete at ``limit / round_trip`` a second unless the service caps
them), so the tests are about the decisions, not about this machine's timing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from superbatch.backends.azure.inflight import InFlight


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(flow: InFlight, clock: Clock, requests: int, round_trip: float, cap=None) -> None:
    """Complete ``requests`` requests at the rate the limit allows (at most ``cap`` a second)."""
    for _ in range(requests):
        rate = flow.limit / round_trip
        if cap is not None:
            rate = min(rate, cap)
        clock.now += 1 / rate
        flow.completed(100)


def test_the_limit_grows_while_the_round_trip_is_latency():
    clock = Clock()
    flow = InFlight(start=2, low=1, high=32, clock=clock)
    simulate(flow, clock, 2_000, round_trip=0.05)
    assert flow.limit == 32


def test_the_limit_stops_growing_once_the_service_is_saturated():
    clock = Clock()
    flow = InFlight(start=2, low=1, high=32, clock=clock)
    simulate(flow, clock, 2_000, round_trip=0.05, cap=100)  # 5 in flight saturate it
    assert 4 <= flow.limit <= 8


def test_throttling_halves_the_limit_and_holds_it_for_the_retry_after():
    clock = Clock()
    flow = InFlight(start=16, low=2, high=32, clock=clock)
    flow.throttled(retry_after=30.0)
    assert flow.limit == 8
    simulate(flow, clock, 200, round_trip=0.05)  # 1.25 s of fast completions
    assert flow.limit == 8  # held: the service asked for 30 s
    clock.now += 30
    simulate(flow, clock, 200, round_trip=0.05)
    assert flow.limit > 8  # probing again
    for _ in range(5):
        flow.throttled(None)
    assert flow.limit == 2  # never below ``low``


def test_requests_in_flight_never_exceed_the_limit():
    flow = InFlight(start=3, low=1, high=3)
    active = peak = 0
    lock = threading.Lock()

    def one(_):
        nonlocal active, peak
        with flow.slot():
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.001)
            with lock:
                active -= 1
        flow.completed(100)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(60)))
    assert peak <= 3
