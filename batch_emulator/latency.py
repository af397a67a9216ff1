"""A per-request delay, as the round trip to a cloud service adds: ``--latency 50ms``.

Each request waits ``latency`` ± up to ``jitter`` (uniform, never below zero) before it is
answered, in its own connection's thread, so requests in flight on other connections are not
held up: concurrency hides latency here as it does against the service.
"""

from __future__ import annotations

import random
import re
import threading
import time

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_VALUE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s)\s*$", re.IGNORECASE)


def parse_delay(text: str) -> float:
    """Seconds from ``50ms``, ``0.05s``, ``500us`` or ``0``; ValueError saying what is expected."""
    value = str(text).strip()
    if value in ("0", "0.0"):
        return 0.0
    m = _VALUE.match(value)
    if not m:
        raise ValueError(
            f"{text!r} is not a delay: give a number with a unit, e.g. 50ms, 0.05s or 500us"
        )
    seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if seconds > 60:
        raise ValueError(f"{text!r} is longer than a minute; a request would time out")
    return seconds


class Latency:
    """Draws each request's delay from ``random.Random(seed)``."""

    def __init__(self, latency: float = 0.0, jitter: float = 0.0, seed: int = 0):
        if latency < 0 or jitter < 0:
            raise ValueError("latency and jitter cannot be negative")
        self.latency, self.jitter = latency, jitter
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return self.latency > 0 or self.jitter > 0

    def draw(self) -> float:
        if not self.jitter:
            return self.latency
        with self._lock:
            offset = self._rng.uniform(-self.jitter, self.jitter)
        return max(0.0, self.latency + offset)

    def wait(self) -> None:
        if self:
            time.sleep(self.draw())
