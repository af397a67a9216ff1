"""Deleting pools and jobs: ``deleting`` for a while, then gone (a mixin of :class:`store.Store`).

The service answers a delete with 202 and sets the pool or job to ``deleting``; it is removed
later ("the Batch service ... perform[s] the actual job deletion without any further client
action"). Meanwhile it is still listed and read, while updates, a second delete and a create
with its id fail with 409 ``PoolBeingDeleted``/``JobBeingDeleted`` (the definition's
``Pools_DeletePool``/``Jobs_DeleteJob`` descriptions). The delay is the store's ``delete_delay``.
"""

from __future__ import annotations

import threading

from .entities import Job, Pool
from .errors import BatchError
from .shared import StoreShared

DEFAULT_DELETE_DELAY = 5.0  # seconds; an empty job or a small pool is gone in about as long


def pool_being_deleted() -> BatchError:
    return BatchError(409, "PoolBeingDeleted", "The specified pool has been marked for deletion.")


def job_being_deleted() -> BatchError:
    return BatchError(
        409,
        "JobBeingDeleted",
        "The specified job has been marked for deletion and is being garbage collected.",
    )


class Deletions(StoreShared):
    """Delete operations; the store provides lock, pools, jobs, requeue, _stop, _run_release."""

    delete_delay: float

    def delete_pool(self, pool_id: str) -> None:
        """``deleting``: the nodes go at once (tasks running there are requeued), the pool
        later."""
        with self.lock:
            pool = self.live_pool(pool_id)
            pool.set_state("deleting")
            for job in self.jobs.values():
                for task in list(job.tasks.values()):
                    if task.state in ("running", "preparing") and task.pool is pool:
                        self.requeue(task, "pooldeleted")
            pool.resize(0, 0)
            pool.doc.update(
                allocationState="resizing", allocationStateTransitionTime=pool.doc["lastModified"]
            )
            self._later(lambda: self._remove_pool(pool))

    def _remove_pool(self, pool: Pool) -> None:
        with self.lock:
            if self.pools.get(pool.id.lower()) is pool:
                del self.pools[pool.id.lower()]

    def delete_job(self, job_id: str) -> None:
        """``deleting``: its tasks are stopped and its release tasks run; removed once both the
        delay has passed and the release tasks have finished."""
        with self.lock:
            job = self.live_job(job_id)
            job.set_state("deleting")
            for task in job.tasks.values():
                self._stop(task, "deleted")
            job.releasing = self._run_release(job)
            self.end_auto_pool(job)
            self._later(lambda: self._remove_job(job, due=True))

    def _remove_job(self, job: Job, due: bool = False) -> None:
        with self.lock:
            job.delete_due = job.delete_due or due
            if job.releasing or not job.delete_due:
                return
            if self.jobs.get(job.id.lower()) is job:
                del self.jobs[job.id.lower()]

    def live_pool(self, pool_id: str) -> Pool:
        """The pool, unless it is being deleted (409 ``PoolBeingDeleted``)."""
        pool = self.pool(pool_id)
        if pool.state == "deleting":
            raise pool_being_deleted()
        return pool

    def live_job(self, job_id: str) -> Job:
        """The job, unless it is being deleted (409 ``JobBeingDeleted``)."""
        job = self.job(job_id)
        if job.state == "deleting":
            raise job_being_deleted()
        return job

    def _later(self, action) -> None:
        """Run ``action`` after the delete delay (at once, in this thread, without one)."""
        if self.delete_delay <= 0:
            action()
            return
        timer = threading.Timer(self.delete_delay, action)
        timer.daemon = True
        timer.start()
