"""Get Task Counts: a job's tasks and slots by state and result, as the service answers
them, optionally lagging (its counts "may not always be up to date", the service's words)."""

from __future__ import annotations

import time
from collections import deque

from .entities import Job
from .shared import StoreShared


class TaskCounts(StoreShared):
    """The store provides lock, job and counts_lag (seconds; 0: counts are current)."""

    def task_counts(self, job_id: str) -> dict:
        with self.lock:
            job = self.job(job_id)
            if not self.counts_lag:
                return _counts_document(job.counts)
            history = self._counts_recorded(job, force=True)
            shown = {k: [0, 0] for k in job.counts}  # nothing recorded that long ago: none yet
            if history[0][0] <= time.monotonic() - self.counts_lag:
                shown = history[0][1]
            return _counts_document(shown)

    def _counts_recorded(self, job: Job, force: bool = False) -> deque[tuple[float, dict]]:
        """The job's counts history with its counts of now (at most one entry per 50 ms
        unless ``force``), trimmed to the newest entry at least the lag old and later ones."""
        history = job.counts_history
        now = time.monotonic()
        if force or not history or history[-1][0] < now - 0.05:
            history.append((now, {k: list(v) for k, v in job.counts.items()}))
        while len(history) >= 2 and history[1][0] <= now - self.counts_lag:
            history.popleft()
        return history

    def counts_changed(self, job: Job) -> None:
        if self.counts_lag:
            self._counts_recorded(job)


_COUNT_NAMES = {
    "active": "active",
    "running": "running",
    "completed": "completed",
    "succeeded": "success",
    "failed": "failure",
}


def _counts_document(c: dict) -> dict:
    """Get Task Counts' answer from a job's counts (tasks and slots by state and result)."""
    return {
        "taskCounts": {k: c[v][0] for k, v in _COUNT_NAMES.items()},
        "taskSlotCounts": {k: c[v][1] for k, v in _COUNT_NAMES.items()},
    }
