"""The wall clock, in one place so that tests can move it.

Only names and records use it (job ids, when a job was submitted or finished); the order of
submissions never does (state.next_sequence), and waiting uses time.monotonic.
"""

from __future__ import annotations

import time


def now() -> float:
    """Seconds since the epoch, as time.time()."""
    return time.time()
