"""Seeded, deterministic fault injection: throttling/busy answers, dropped connections, preemption."""

from __future__ import annotations

import random
import threading


class Faults:
    """Draws from one ``random.Random(seed)``: the same requests in the same order fail alike."""

    def __init__(
        self,
        fault_rate: float = 0.0,
        drop_rate: float = 0.0,
        preempt_rate: float = 0.0,
        seed: int = 0,
    ):
        self.fault_rate, self.drop_rate, self.preempt_rate = fault_rate, drop_rate, preempt_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {
            "requests": 0,
            "busy": 0,
            "throttled": 0,
            "dropped": 0,
            "dropped_after_apply": 0,
            "preempted": 0,
        }

    def request(self) -> tuple[str | None, bool]:
        """The fault for the next request: (None | 'busy' | 'throttle' | 'drop' | 'drop-after',
        whether to send ``Retry-After``)."""
        with self._lock:
            self.stats["requests"] += 1
            r = self._rng.random()
            retry_after = self._rng.random() < 0.5
            if r < self.drop_rate:
                # a third of the drops happen after the request was applied (the ambiguous case)
                after = self._rng.random() < 1 / 3
                self.stats["dropped_after_apply" if after else "dropped"] += 1
                return ("drop-after" if after else "drop"), False
            if r < self.drop_rate + self.fault_rate:
                busy = self._rng.random() < 0.5
                self.stats["busy" if busy else "throttled"] += 1
                return ("busy" if busy else "throttle"), retry_after
            return None, False

    def preempt(self) -> bool:
        """Whether the run that is starting now will be preempted."""
        if not self.preempt_rate:
            return False
        with self._lock:
            hit = self._rng.random() < self.preempt_rate
            self.stats["preempted"] += hit
            return hit
