"""Auto pools: a pool the service makes for a job from ``poolInfo.autoPoolSpecification``
(a mixin of :class:`store.Store`).

As the definition describes ``BatchAutoPoolSpecification``: the pool is created with the job,
its id is a unique identifier after ``autoPoolIdPrefix``, the job's ``executionInfo.poolId``
names it, it is listed with the account's pools, and unless ``keepAlive`` it is deleted when
its lifetime ends: for ``poolLifetimeOption: job``, when the job completes or is deleted.
``jobschedule`` applies "only to Job Schedules, not to Jobs" (and job schedules are not
emulated), so a job asking for it is refused. "You must specify either the Pool ID or the auto
Pool specification, but not both."
"""

from __future__ import annotations

import uuid

from .entities import BASE, Job, Pool
from .errors import invalid_property, missing_property
from .shared import StoreShared


def check_pool_info(body: dict) -> None:
    """``poolInfo``: exactly one of ``poolId`` and ``autoPoolSpecification``, the latter with
    ``poolLifetimeOption: job`` and a ``pool``."""
    info = body.get("poolInfo") or {}
    auto = info.get("autoPoolSpecification")
    if info.get("poolId") and auto:
        raise invalid_property(
            "poolInfo",
            "poolId,autoPoolSpecification",
            "Specify either the pool id or the auto pool specification, but not both.",
        )
    if not auto:
        return
    if (auto.get("poolLifetimeOption") or "").lower() != "job":
        raise invalid_property(
            "poolInfo.autoPoolSpecification.poolLifetimeOption",
            auto.get("poolLifetimeOption"),
            "The jobschedule lifetime applies only to job schedules, not to jobs.",
        )
    if not auto.get("pool"):
        raise missing_property("poolInfo.autoPoolSpecification.pool")
    prefix = auto.get("autoPoolIdPrefix") or ""
    if len(prefix) > 20:
        raise invalid_property(
            "poolInfo.autoPoolSpecification.autoPoolIdPrefix",
            prefix,
            "The prefix can be up to 20 characters long.",
        )


class AutoPools(StoreShared):
    """The store provides lock, pools, no_spot, workers, wake and delete_pool."""

    def create_auto_pool(self, job: Job) -> None:
        """Make the job's auto pool (called with the lock held, before the job is visible)."""
        auto = job.doc["poolInfo"]["autoPoolSpecification"]
        prefix = auto.get("autoPoolIdPrefix") or ""
        pool_id = f"{prefix}_{uuid.uuid4()}" if prefix else str(uuid.uuid4())
        body = dict(auto["pool"], id=pool_id)
        pool = Pool(body, f"{BASE}/pools/{pool_id}", self.no_spot, self.workers)
        self.pools[pool_id.lower()] = pool
        job.auto_pool = pool
        job.doc["executionInfo"]["poolId"] = pool_id
        self.wake()

    def end_auto_pool(self, job: Job) -> None:
        """The job's lifetime is over: delete its auto pool unless ``keepAlive``."""
        pool, job.auto_pool = job.auto_pool, None
        if pool is None or job.doc["poolInfo"]["autoPoolSpecification"].get("keepAlive"):
            return
        if self.pools.get(pool.id.lower()) is pool and pool.state != "deleting":
            self.delete_pool(pool.id)
