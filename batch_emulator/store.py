"""The emulator's state: pools, jobs and tasks, and the operations on them.

All under one lock; ``changed`` is notified whenever work may be runnable. How a task moves
between states (scheduling, completion, retries) is in ``transitions.py``, what Get Task
Counts answers in ``taskcounts.py``; the node (``node.py``) runs what
:meth:`Store.take_runnable` hands it and reports back.
"""

from __future__ import annotations

import threading
import time

from . import rules
from .autopools import AutoPools, check_pool_info
from .deletion import DEFAULT_DELETE_DELAY, Deletions, job_being_deleted, pool_being_deleted
from .entities import BASE, FOREVER, ComputeNode, Job, Pool, Task
from .errors import BatchError, not_found, unsupported_property
from .supported import SUPPORTED_IMAGES
from .taskcounts import TaskCounts
from .transitions import Transitions
from .validation import parse_duration


class Store(AutoPools, Deletions, TaskCounts, Transitions):
    """All resources and transitions. Methods raise :class:`BatchError` as the service answers."""

    def __init__(
        self,
        no_spot: bool = False,
        workers: int | None = None,
        counts_lag: float = 0.0,
        delete_delay: float = DEFAULT_DELETE_DELAY,
    ):
        self.lock = threading.RLock()
        self.delete_delay = delete_delay
        # Task counts "may not always be up to date" (the service's words): with a lag, a
        # job's counts are answered as they were that many seconds ago.
        self.counts_lag = counts_lag
        self.changed = threading.Condition(self.lock)
        self.no_spot, self.workers = no_spot, workers
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self.kill = lambda task: None  # set by the node: stop a task's process
        self.release = lambda job, records: None  # set by the node: run a job's release tasks
        self.dirty = False  # something may have become runnable
        self.supported_images = [dict(image) for image in SUPPORTED_IMAGES]

    def wake(self) -> None:
        """Tell the node's dispatcher to look for runnable tasks (call with the lock held)."""
        self.dirty = True
        self.changed.notify_all()

    # ---- pools
    def create_pool(self, body: dict) -> Pool:
        rules.check_pool(body)
        with self.lock:
            existing = self.pools.get(body["id"].lower())
            if existing is not None:
                if existing.state == "deleting":
                    raise pool_being_deleted()
                raise BatchError(409, "PoolExists", "The specified pool already exists.")
            pool = Pool(body, f"{BASE}/pools/{body['id']}", self.no_spot, self.workers)
            self.pools[pool.id.lower()] = pool
            self.wake()
            return pool

    def pool(self, pool_id: str) -> Pool:
        pool = self.pools.get(pool_id.lower())
        if pool is None:
            raise not_found("Pool", pool_id)
        return pool

    def node(self, pool_id: str, node_id: str) -> ComputeNode:
        node = self.pool(pool_id).node(node_id)
        if node is None:
            raise BatchError(404, "NodeNotFound", "The specified node does not exist.")
        return node

    def resize_pool(self, pool_id: str, body: dict) -> Pool:
        """A fixed pool's new node counts, reached at once; tasks running on removed nodes are
        requeued (the service's default ``nodeDeallocationOption``)."""
        with self.lock:
            pool = self.live_pool(pool_id)
            if pool.doc.get("enableAutoScale"):
                raise BatchError(
                    409,
                    "AutoScalingEnabled",
                    "The specified pool has automatic scaling enabled; disable it before resizing.",
                )
            dedicated = int(body.get("targetDedicatedNodes") or 0)
            spot = 0 if self.no_spot else int(body.get("targetLowPriorityNodes") or 0)
            kept = pool.resize(dedicated, spot)
            for job in self.jobs.values():
                for task in list(job.tasks.values()):
                    if (
                        task.state in ("running", "preparing")
                        and task.pool is pool
                        and task.node is not None
                        and task.node not in kept
                    ):
                        self.requeue(task, "nodedeallocated")
            pool.doc.update(
                targetDedicatedNodes=dedicated,
                targetLowPriorityNodes=int(body.get("targetLowPriorityNodes") or 0),
            )
            pool.touch()
            self.wake()
            return pool

    def disable_autoscale(self, pool_id: str) -> Pool:
        """The pool keeps its current nodes and becomes a fixed pool of that size."""
        with self.lock:
            pool = self.live_pool(pool_id)
            pool.doc["enableAutoScale"] = False
            pool.doc.pop("autoScaleFormula", None)
            pool.doc["targetDedicatedNodes"] = pool.doc["currentDedicatedNodes"]
            pool.doc["targetLowPriorityNodes"] = pool.doc["currentLowPriorityNodes"]
            pool.touch()
            return pool

    # ---- jobs
    def create_job(self, body: dict) -> Job:
        rules.check_job(body)
        check_pool_info(body)
        with self.lock:
            existing = self.jobs.get(body["id"].lower())
            if existing is not None:
                if existing.state == "deleting":
                    raise job_being_deleted()
                raise BatchError(409, "JobExists", "The specified job already exists.")
            job = Job(body, f"{BASE}/jobs/{body['id']}")
            if body["poolInfo"].get("autoPoolSpecification"):
                self.create_auto_pool(job)
            self._set_deadline(job)
            self.jobs[job.id.lower()] = job
            self._maybe_complete(job)
            return job

    @staticmethod
    def _set_deadline(job: Job) -> None:
        limit = job.doc["constraints"].get("maxWallClockTime") or FOREVER
        seconds = parse_duration(limit).total_seconds()
        job.deadline = None if limit == FOREVER or seconds > 10**9 else job.born + seconds

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id.lower())
        if job is None:
            raise not_found("Job", job_id)
        return job

    def update_job(self, job_id: str, body: dict) -> Job:
        """PATCH: replace the given top-level properties; ``terminatejob`` may end the job now."""
        with self.lock:
            job = self.live_job(job_id)
            if job.state in ("completed", "terminating"):
                raise BatchError(
                    409, "JobCompleted", "The specified job is already in a completed state."
                )
            for key in (
                "priority",
                "maxParallelTasks",
                "allowTaskPreemption",
                "onAllTasksComplete",
                "onTaskFailure",
                "constraints",
                "poolInfo",
                "metadata",
                "displayName",
            ):
                if key in body:
                    job.doc[key] = body[key]
            job.doc.setdefault("constraints", {}).setdefault("maxWallClockTime", FOREVER)
            if job.doc["poolInfo"].get("poolId"):
                job.doc["executionInfo"]["poolId"] = job.doc["poolInfo"]["poolId"]
            self._set_deadline(job)
            job.touch()
            self._maybe_complete(job)
            self.wake()
            return job

    def terminate_job(self, job_id: str, reason: str | None) -> None:
        """Running tasks are ended; active ones stay active but never run; the job completes."""
        with self.lock:
            job = self.live_job(job_id)
            if job.state in ("completed", "terminating"):
                raise BatchError(
                    409, "JobCompleted", "The specified job is already in a completed state."
                )
            self._end_job(job, reason or "UserTerminate")

    def expire_jobs(self) -> float | None:
        """End active jobs past their ``maxWallClockTime``; the next deadline (monotonic) or None."""
        with self.lock:
            clock, nxt = time.monotonic(), None
            for job in list(self.jobs.values()):
                if job.state not in ("active", "disabled") or job.deadline is None:
                    continue
                if job.deadline <= clock:
                    self._end_job(job, "MaxWallClockTimeExpiry")
                else:
                    nxt = job.deadline if nxt is None else min(nxt, job.deadline)
            return nxt

    def _end_job(self, job: Job, reason: str) -> None:
        """Terminate: kill running tasks, run release tasks (``terminating``), then complete."""
        job.set_state("terminating")
        job.doc["executionInfo"]["terminateReason"] = reason
        for task in list(job.tasks.values()):
            if task.state in ("running", "preparing"):
                self.end_task(task, "TaskEnded", "Task Was Ended by User Request")
        if not self._run_release(job):
            self._complete_job(job)

    def _run_release(self, job: Job) -> bool:
        records = [r for r in job.preps.values() if r.prep and job.release_task]
        if records:
            self.release(job, records)
        return bool(records)

    def release_done(self, job: Job) -> None:
        """Called by the node once every release task of a terminating job has finished."""
        with self.lock:
            if job.state == "terminating":
                self._complete_job(job)
            elif job.state == "deleting":
                job.releasing = False
                self._remove_job(job)

    def _complete_job(self, job: Job, reason: str | None = None) -> None:
        self.end_auto_pool(job)
        job.set_state("completed")
        job.doc["executionInfo"]["endTime"] = job.doc["stateTransitionTime"]
        if reason:
            job.doc["executionInfo"]["terminateReason"] = reason

    def _maybe_complete(self, job: Job) -> None:
        """``terminatejob``: once every task is completed (vacuously so with none) the job ends."""
        if (
            job.state == "active"
            and (job.doc.get("onAllTasksComplete") or "").lower() == "terminatejob"
            and job.counts["completed"][0] == len(job.tasks)
        ):
            self._end_job(job, "AllTasksComplete")

    # ---- tasks
    def add_tasks(self, job_id: str, bodies: list[dict]) -> list[dict]:
        """Add-collection: one result per task (``success`` or ``clienterror`` with its error)."""
        with self.lock:
            job = self._open_job(job_id)
            pool = self.pools.get(job.pool_key)
            results, seen = [], set()
            for body in bodies:
                tid = body.get("id") if isinstance(body, dict) else None
                try:
                    if not isinstance(body, dict):
                        raise BatchError(400, "InvalidRequestBody", "A task must be a JSON object.")
                    rules.check_task(body, job.doc, pool.doc if pool else None)
                    if str(tid).lower() in seen:  # an id the checks above found a string
                        raise _task_exists()
                    seen.add(str(tid).lower())
                    task = self._insert(job, body)
                    results.append(
                        {
                            "status": "success",
                            "taskId": task.id,
                            "eTag": task.doc["eTag"],
                            "lastModified": task.doc["lastModified"],
                            "location": task.doc["url"],
                        }
                    )
                except BatchError as exc:
                    results.append(
                        {
                            "status": "clienterror",
                            "taskId": tid if isinstance(tid, str) else "",
                            "error": {
                                "code": exc.code,
                                "message": {"lang": "en-US", "value": exc.message},
                                "values": [
                                    {"key": k, "value": str(v)} for k, v in exc.values.items()
                                ],
                            },
                        }
                    )
            self.wake()
            return results

    def add_task(self, job_id: str, body: dict) -> Task:
        with self.lock:
            job = self._open_job(job_id)
            pool = self.pools.get(job.pool_key)
            rules.check_task(body, job.doc, pool.doc if pool else None)
            task = self._insert(job, body)
            self.wake()
            return task

    def _open_job(self, job_id: str) -> Job:
        job = self.live_job(job_id)
        if job.state in ("completed", "terminating"):
            raise BatchError(
                409, "JobCompleted", "The specified job is already in a completed state."
            )
        return job

    def _insert(self, job: Job, body: dict) -> Task:
        if body.get("multiInstanceSettings"):
            # Refused rather than run once as an ordinary task: never a silent success.
            raise unsupported_property(
                "multiInstanceSettings", "Multi-instance tasks are not emulated."
            )
        if body["id"].lower() in job.tasks:
            raise _task_exists()
        task = Task(body, f"{job.doc['url']}/tasks/{body['id']}", job)
        job.tasks[task.id.lower()] = task
        self._count(task, "active", +1)
        job.pending.append(task)
        return task

    def task(self, job_id: str, task_id: str) -> Task:
        task = self.job(job_id).tasks.get(task_id.lower())
        if task is None:
            raise not_found("Task", task_id)
        return task

    def list_tasks(self, job_id: str) -> list[Task]:
        with self.lock:
            return list(self.job(job_id).tasks.values())

    def terminate_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            self.live_job(job_id)
            task = self.task(job_id, task_id)
            if task.state in ("active", "running", "preparing"):
                self.end_task(task, "TaskEnded", "Task Was Ended by User Request")

    def delete_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            self.live_job(job_id)
            task = self.task(job_id, task_id)
            self._stop(task, "deleted")
            self._count(task, task.state, -1)
            del task.job.tasks[task_id.lower()]
            self._maybe_complete(task.job)

    def reactivate_task(self, job_id: str, task_id: str) -> None:
        """A failed completed task goes back to active with its retry count reset."""
        with self.lock:
            self.live_job(job_id)
            task = self.task(job_id, task_id)
            if task.job.state != "active":
                raise BatchError(
                    409, "JobCompleted", "The specified job is already in a completed state."
                )
            info = task.doc["executionInfo"]
            if task.state != "completed" or info.get("result") != "failure":
                raise BatchError(
                    409,
                    "TaskNotCompletedOrSucceeded"
                    if task.state == "completed"
                    else "TaskNotCompleted",
                    "Only a task that completed with a failure can be reactivated.",
                )
            self._count(task, "completed", -1)
            task.doc["executionInfo"] = {
                "retryCount": 0,
                "requeueCount": info.get("requeueCount", 0),
            }
            task.set_state("active")
            self._count(task, "active", +1)
            task.job.pending.appendleft(task)
            self.wake()


def _task_exists() -> BatchError:
    return BatchError(409, "TaskExists", "The specified task already exists.")
