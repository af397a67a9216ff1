"""How many add-collection requests are in flight: never more than the limit, more while the
round trip is latency, not more once the service is saturated, fewer when it throttles."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from superbatch.backends.azure.inflight import InFlight


def drive(flow: InFlight, requests: int, service, threads: int = 32) -> int:
    """Send ``requests`` requests through ``flow`` (each one ``service()``); the most that
    were ever in flight at once."""
    active = peak = 0
    lock = threading.Lock()

    def one(_):
        nonlocal active, peak
        with flow.slot():
            with lock:
                active += 1
                peak = max(peak, active)
            service()
            with lock:
                active -= 1
        flow.completed(100)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(requests)))
    return peak


def test_requests_in_flight_never_exceed_the_limit():
    flow = InFlight(start=3, low=1, high=3)
    assert drive(flow, 60, lambda: time.sleep(0.002)) <= 3


def test_the_limit_grows_while_the_round_trip_is_latency():
    flow = InFlight(start=2, low=1, high=16)
    drive(flow, 400, lambda: time.sleep(0.02))  # 20 ms each, nothing saturates
    assert flow.limit >= 8 and flow.peak <= 16


def test_the_limit_stops_growing_once_the_service_is_saturated():
    served = threading.Lock()  # the service answers one request at a time

    def saturated():
        with served:
            time.sleep(0.004)

    flow = InFlight(start=2, low=1, high=32)
    drive(flow, 400, saturated)
    assert flow.limit < 16  # raising it did not pay, so it went back


def test_throttling_halves_the_limit_and_holds_it():
    flow = InFlight(start=16, low=2, high=32)
    flow.throttled(retry_after=30.0)
    assert flow.limit == 8
    drive(flow, 100, lambda: time.sleep(0.001))
    assert flow.limit == 8  # held for the Retry-After, even though requests complete fast
    for _ in range(5):
        flow.throttled(None)
    assert flow.limit == 2  # never below ``low``
