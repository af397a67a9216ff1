"""How many requests to keep in flight: more while the round trip dominates, fewer when the
service pushes back.

Little's law: with ``k`` requests in flight and a round trip of ``r`` seconds, ``k / r``
requests complete per second. While the round trip is mostly waiting (network latency, a
service with capacity to spare), a larger ``k`` raises the rate; once something saturates
(the service, or this process's CPU) the round trip grows with ``k`` and the rate stays flat.
So the limit is raised by half while each raise pays (the rate of the last window of
completions beats the previous one by ``GAIN`` of the raise), stepped back and held when it
does not, and
halved on every 429/503, which also holds it for the ``Retry-After`` the service asked for.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

GAIN = 0.3  # a raise must bring 30% of what it would if the rate grew with the limit


class InFlight:
    """A limit on concurrent requests that adapts to the rate they complete at."""

    def __init__(self, start: int = 4, low: int = 1, high: int = 32, clock=time.monotonic):
        self.limit, self.low, self.high = start, low, high
        self._clock = clock
        self.peak = start
        self._active = 0
        self._cond = threading.Condition()
        self._growing = True
        self._hold_until = 0.0
        self._window_start = clock()
        self._window_items = 0
        self._window_done = 0
        self._previous: tuple[int, float] | None = None  # (limit, rate) of the last window

    @contextmanager
    def slot(self):
        """Hold one of the ``limit`` places for the duration of a request."""
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify()

    def completed(self, items: int) -> None:
        """A request succeeded, carrying ``items`` (tasks): maybe move the limit."""
        with self._cond:
            self._window_items += items
            self._window_done += 1
            if self._window_done < max(4, 2 * self.limit):
                return
            now = self._clock()
            rate = self._window_items / max(now - self._window_start, 1e-6)
            self._next_window(now)
            if now < self._hold_until:
                return
            previous, self._previous = self._previous, (self.limit, rate)
            raised = previous is not None and previous[0] < self.limit
            if (
                previous is not None
                and raised
                and rate < previous[1] * (1 + GAIN * (self.limit / previous[0] - 1))
            ):
                self._set(previous[0])  # the raise did not pay: back, and stay
                self._growing = False
                self._previous = None
            elif self._growing and self.limit < self.high:
                self._set(min(self.high, self.limit + max(1, self.limit // 2)))

    def throttled(self, retry_after: float | None) -> None:
        """The service answered 429/503: halve the limit, hold it a while, then probe again."""
        with self._cond:
            now = self._clock()
            self._set(max(self.low, self.limit // 2))
            self._hold_until = now + max(retry_after or 0.0, 1.0)
            self._growing = True
            self._previous = None
            self._next_window(now)

    def _set(self, limit: int) -> None:
        self.limit = limit
        self.peak = max(self.peak, limit)
        self._cond.notify_all()

    def _next_window(self, now: float) -> None:
        self._window_start, self._window_items, self._window_done = now, 0, 0
