"""The emulator's state: pools, jobs and tasks as the service's JSON documents, and every
state transition (all under one lock; ``changed`` is notified whenever work may be runnable)."""
from __future__ import annotations

import itertools
import threading
from collections import deque
from datetime import datetime, timezone

from . import rules
from .errors import BatchError, not_found

_etags = itertools.count(0x8D4125FD1A825A4)


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """The service's timestamp format (``2016-11-21T22:43:31.473347Z``)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Entity:
    """A resource: its REST document plus the ETag/Last-Modified bookkeeping."""

    def __init__(self, doc: dict, url: str):
        self.doc = doc
        t = iso(now())
        doc.update(url=url, creationTime=t)
        self.touch()

    def touch(self) -> None:
        self.modified = now()
        self.doc["eTag"] = f"0x{next(_etags):X}"
        self.doc["lastModified"] = iso(self.modified)

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def state(self) -> str:
        return self.doc["state"]

    def set_state(self, state: str) -> None:
        t = iso(now())
        if "state" in self.doc:
            self.doc["previousState"] = self.doc["state"]
            self.doc["previousStateTransitionTime"] = self.doc["stateTransitionTime"]
        self.doc["state"] = state
        self.doc["stateTransitionTime"] = t
        self.touch()


class Pool(Entity):
    """A pool that is at once allocated: ``steady``, its current node counts equal to its targets."""

    def __init__(self, body: dict, url: str, no_spot: bool, workers: int | None):
        super().__init__(body, url)
        body.setdefault("taskSlotsPerNode", 1)
        body.setdefault("resizeTimeout", "PT15M")
        self.set_state("active")
        body.update(allocationState="steady", allocationStateTransitionTime=body["stateTransitionTime"])
        if body.get("enableAutoScale"):
            dedicated, spot = workers or 1, 0
        else:
            body.setdefault("targetDedicatedNodes", 0)
            body.setdefault("targetLowPriorityNodes", 0)
            dedicated, spot = body["targetDedicatedNodes"], body["targetLowPriorityNodes"]
            if no_spot and spot:
                body["resizeErrors"] = [{
                    "code": "AccountLowPriorityCoreQuotaReached",
                    "message": "The specified account has reached its low priority core quota "
                               "(emulator --no-spot: no Spot nodes are ever allocated).",
                    "values": [{"name": "targetLowPriorityNodes", "value": str(spot)}],
                }]
                spot = 0
        body.update(currentDedicatedNodes=dedicated, currentLowPriorityNodes=spot)
        self.nodes = [0] * (dedicated + spot)          # slots in use on each node
        self.dedicated = dedicated

    @property
    def slots_per_node(self) -> int:
        return max(1, int(self.doc["taskSlotsPerNode"]))

    def place(self, slots: int) -> int | None:
        """The index of a node with ``slots`` free slots, reserving them; None if full."""
        for i, used in enumerate(self.nodes):
            if used + slots <= self.slots_per_node:
                self.nodes[i] += slots
                return i
        return None


class Task(Entity):
    """A task and its run bookkeeping (``run`` counts starts so stale runners can tell)."""

    def __init__(self, body: dict, url: str, job: "Job"):
        super().__init__(body, url)
        self.job = job
        c = body.setdefault("constraints", {})
        c.setdefault("maxTaskRetryCount", 0)
        c.setdefault("maxWallClockTime", "P10675199DT2H48M5.4775807S")
        c.setdefault("retentionTime", "P7D")
        body.setdefault("requiredSlots", 1)
        body.setdefault("userIdentity", {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}})
        body["executionInfo"] = {"retryCount": 0, "requeueCount": 0}
        self.run = 0
        self.proc = None            # the running process, set by the node
        self.ended: str | None = None  # why the current run was cut short (terminate/delete/...)
        self.pool: Pool | None = None
        self.node: int | None = None
        self.set_state("active")

    @property
    def slots(self) -> int:
        return max(1, int(self.doc.get("requiredSlots") or 1))


class Job(Entity):
    """A job: its tasks (keyed case-insensitively), its queue of active tasks and its counts."""

    def __init__(self, body: dict, url: str):
        super().__init__(body, url)
        body.setdefault("priority", 0)
        body.setdefault("maxParallelTasks", -1)
        body.setdefault("onAllTasksComplete", "noaction")
        body.setdefault("onTaskFailure", "noaction")
        body.setdefault("usesTaskDependencies", False)
        body.setdefault("constraints", {"maxWallClockTime": "P10675199DT2H48M5.4775807S",
                                        "maxTaskRetryCount": 0})
        body["executionInfo"] = {"startTime": body["creationTime"], "poolId": body["poolInfo"]["poolId"]}
        self.tasks: dict[str, Task] = {}
        self.pending: deque[Task] = deque()
        self.counts = {k: [0, 0] for k in ("active", "running", "completed", "success", "failure")}
        self.running = 0
        self.set_state("active")

    @property
    def pool_key(self) -> str:
        return self.doc["poolInfo"]["poolId"].lower()


class Store:
    """All resources and transitions. Methods raise :class:`BatchError` as the service answers."""

    def __init__(self, no_spot: bool = False, workers: int | None = None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.base_url = "http://127.0.0.1"
        self.no_spot, self.workers = no_spot, workers
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self.kill = lambda task: None     # set by the node: stop a task's process
        self.dirty = False                # something may have become runnable

    def wake(self) -> None:
        """Tell the node's dispatcher to look for runnable tasks (call with the lock held)."""
        self.dirty = True
        self.changed.notify_all()

    # ---- pools
    def create_pool(self, body: dict) -> Pool:
        rules.check_pool(body)
        with self.lock:
            if body["id"].lower() in self.pools:
                raise BatchError(409, "PoolExists", "The specified pool already exists.")
            pool = Pool(body, f"{self.base_url}/pools/{body['id']}", self.no_spot, self.workers)
            self.pools[pool.id.lower()] = pool
            self.wake()
            return pool

    def pool(self, pool_id: str) -> Pool:
        pool = self.pools.get(pool_id.lower())
        if pool is None:
            raise not_found("Pool", pool_id)
        return pool

    def delete_pool(self, pool_id: str) -> None:
        """Remove a pool; tasks running on its nodes are requeued (their nodes are gone)."""
        with self.lock:
            pool = self.pool(pool_id)
            del self.pools[pool_id.lower()]
            for job in self.jobs.values():
                for task in list(job.tasks.values()):
                    if task.state == "running" and task.pool is pool:
                        self.requeue(task, "pooldeleted")

    # ---- jobs
    def create_job(self, body: dict) -> Job:
        rules.check_job(body)
        with self.lock:
            if body["id"].lower() in self.jobs:
                raise BatchError(409, "JobExists", "The specified job already exists.")
            job = Job(body, f"{self.base_url}/jobs/{body['id']}")
            self.jobs[job.id.lower()] = job
            self._maybe_complete(job)
            return job

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id.lower())
        if job is None:
            raise not_found("Job", job_id)
        return job

    def update_job(self, job_id: str, body: dict) -> Job:
        """PATCH: replace the given top-level properties; ``terminatejob`` may end the job now."""
        rules.check_all_tasks_complete(body)
        with self.lock:
            job = self.job(job_id)
            if job.state in ("completed", "terminating"):
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            for key in ("priority", "maxParallelTasks", "allowTaskPreemption", "onAllTasksComplete",
                        "onTaskFailure", "constraints", "poolInfo", "metadata", "displayName"):
                if key in body:
                    job.doc[key] = body[key]
            job.doc["executionInfo"]["poolId"] = job.doc["poolInfo"]["poolId"]
            job.touch()
            self._maybe_complete(job)
            self.wake()
            return job

    def terminate_job(self, job_id: str, reason: str | None) -> None:
        """Running tasks are ended; active ones stay active but never run; the job completes."""
        with self.lock:
            job = self.job(job_id)
            if job.state in ("completed", "terminating"):
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            job.set_state("terminating")
            for task in list(job.tasks.values()):
                if task.state == "running":
                    self.end_task(task, "TaskEnded", "Task Was Ended by User Request")
            self._complete_job(job, reason or "UserTerminate")

    def delete_job(self, job_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            job.set_state("deleting")
            for task in job.tasks.values():
                self._stop(task, "deleted")
            del self.jobs[job_id.lower()]

    def _complete_job(self, job: Job, reason: str) -> None:
        job.set_state("completed")
        job.doc["executionInfo"].update(endTime=job.doc["stateTransitionTime"], terminateReason=reason)

    def _maybe_complete(self, job: Job) -> None:
        """``terminatejob``: once every task is completed (vacuously so with none) the job ends."""
        if (job.state == "active" and job.doc.get("onAllTasksComplete") == "terminatejob"
                and job.counts["completed"][0] == len(job.tasks)):
            self._complete_job(job, "AllTasksComplete")

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
                    rules.check_task(body, pool.doc if pool else None)
                    if tid.lower() in seen:
                        raise _task_exists()
                    seen.add(tid.lower())
                    task = self._insert(job, body)
                    results.append({"status": "success", "taskId": task.id, "eTag": task.doc["eTag"],
                                    "lastModified": task.doc["lastModified"], "location": task.doc["url"]})
                except BatchError as exc:
                    results.append({"status": "clienterror", "taskId": tid or "",
                                    "error": {"code": exc.code,
                                              "message": {"lang": "en-US", "value": exc.message},
                                              "values": [{"key": k, "value": str(v)}
                                                         for k, v in exc.values.items()]}})
            self.wake()
            return results

    def add_task(self, job_id: str, body: dict) -> Task:
        with self.lock:
            job = self._open_job(job_id)
            pool = self.pools.get(job.pool_key)
            rules.check_task(body, pool.doc if pool else None)
            task = self._insert(job, body)
            self.wake()
            return task

    def _open_job(self, job_id: str) -> Job:
        job = self.job(job_id)
        if job.state in ("completed", "terminating"):
            raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
        if job.state == "deleting":
            raise BatchError(409, "JobBeingDeleted", "The specified job has been marked for deletion.")
        return job

    def _insert(self, job: Job, body: dict) -> Task:
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

    def task_counts(self, job_id: str) -> dict:
        with self.lock:
            c = self.job(job_id).counts
            names = {"active": "active", "running": "running", "completed": "completed",
                     "succeeded": "success", "failed": "failure"}
            return {"taskCounts": {k: c[v][0] for k, v in names.items()},
                    "taskSlotCounts": {k: c[v][1] for k, v in names.items()}}

    def terminate_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            task = self.task(job_id, task_id)
            if task.state in ("active", "running"):
                self.end_task(task, "TaskEnded", "Task Was Ended by User Request")

    def delete_task(self, job_id: str, task_id: str) -> None:
        with self.lock:
            task = self.task(job_id, task_id)
            self._stop(task, "deleted")
            self._count(task, task.state, -1)
            del task.job.tasks[task_id.lower()]
            self._maybe_complete(task.job)

    def reactivate_task(self, job_id: str, task_id: str) -> None:
        """A failed completed task goes back to active with its retry count reset."""
        with self.lock:
            task = self.task(job_id, task_id)
            if task.job.state != "active":
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            info = task.doc["executionInfo"]
            if task.state != "completed" or info.get("result") != "failure":
                raise BatchError(409, "TaskNotCompletedOrSucceeded" if task.state == "completed"
                                 else "TaskNotCompleted",
                                 "Only a task that completed with a failure can be reactivated.")
            self._count(task, "completed", -1)
            task.doc["executionInfo"] = {"retryCount": 0, "requeueCount": info.get("requeueCount", 0)}
            task.set_state("active")
            self._count(task, "active", +1)
            task.job.pending.appendleft(task)
            self.wake()

    # ---- transitions used by the node
    def _count(self, task: Task, state: str, sign: int) -> None:
        c = task.job.counts
        keys = [state]
        if state == "completed":
            keys.append(task.doc["executionInfo"].get("result", "failure"))
        for k in keys:
            c[k][0] += sign
            c[k][1] += sign * task.slots

    def _stop(self, task: Task, why: str) -> None:
        """Cut the current run short (the node's runner sees ``ended`` and drops its result)."""
        if task.state == "running":
            task.ended = why
            self._release(task)
            self.kill(task)

    def _release(self, task: Task) -> None:
        if task.pool is not None and task.node is not None and task.node < len(task.pool.nodes):
            task.pool.nodes[task.node] -= task.slots
        task.pool = task.node = None
        task.job.running -= 1
        self.wake()

    def take_runnable(self, limit: int | None) -> list[tuple[Task, int]]:
        """Mark as running every active task that fits on a node now; returns (task, run) pairs."""
        started = []
        with self.lock:
            busy = sum(j.running for j in self.jobs.values())
            for job in sorted(self.jobs.values(), key=lambda j: -int(j.doc.get("priority") or 0)):
                pool = self.pools.get(job.pool_key)
                if job.state != "active" or pool is None:
                    continue
                cap = int(job.doc.get("maxParallelTasks", -1))
                while job.pending and (limit is None or busy < limit) and (cap < 0 or job.running < cap):
                    task = job.pending[0]
                    if task.state != "active" or job.tasks.get(task.id.lower()) is not task:
                        job.pending.popleft()
                        continue
                    node = pool.place(task.slots)
                    if node is None:
                        break
                    job.pending.popleft()
                    started.append((task, self._start(task, pool, node)))
                    busy += 1
        return started

    def _start(self, task: Task, pool: Pool, node: int) -> int:
        self._count(task, "active", -1)
        task.run += 1
        task.ended, task.pool, task.node = None, pool, node
        task.job.running += 1
        task.set_state("running")
        self._count(task, "running", +1)
        node_id = self.node_id(pool, node)
        info = task.doc["executionInfo"]
        info["startTime"] = task.doc["stateTransitionTime"]
        for k in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(k, None)
        task.doc["nodeInfo"] = {"poolId": pool.id, "nodeId": node_id, "affinityId": f"TVM:{node_id}",
                                "nodeUrl": f"{pool.doc['url']}/nodes/{node_id}",
                                "taskRootDirectory": f"workitems/{task.job.id}/job-1/{task.id}",
                                "taskRootDirectoryUrl": f"{pool.doc['url']}/nodes/{node_id}/files/"
                                                        f"workitems/{task.job.id}/job-1/{task.id}"}
        return task.run

    @staticmethod
    def node_id(pool: Pool, node: int) -> str:
        kind = "d" if node < pool.dedicated else "lp"
        return f"tvmps_emulator_{kind}_{node}"

    def current(self, task: Task, run: int) -> bool:
        """Whether ``run`` is still the task's live run (not ended, deleted or superseded)."""
        return task.run == run and task.ended is None and task.state == "running"

    def end_task(self, task: Task, code: str, message: str) -> None:
        """Complete a task as failed without an exit code from its process (terminate, timeout)."""
        self._stop(task, "ended")
        self.complete(task, None, {"category": "usererror", "code": code, "message": message})

    def complete(self, task: Task, exit_code: int | None, failure: dict | None) -> None:
        """Enter ``completed`` with the run's exit code and failure info."""
        if task.state == "running" and task.ended is None:
            self._release(task)
        self._count(task, task.state, -1)
        info = task.doc["executionInfo"]
        if exit_code is not None:
            info["exitCode"] = exit_code
        info["result"] = "failure" if failure else "success"
        if failure:
            info["failureInfo"] = failure
        task.set_state("completed")
        info["endTime"] = task.doc["stateTransitionTime"]
        self._count(task, "completed", +1)
        self._maybe_complete(task.job)

    def retry(self, task: Task, exit_code: int) -> bool:
        """After a failing exit: go back to active for another try if retries remain."""
        limit = int(task.doc["constraints"].get("maxTaskRetryCount", 0))
        info = task.doc["executionInfo"]
        if limit != -1 and info["retryCount"] >= limit:
            return False
        self._back_to_active(task)
        info["retryCount"] += 1
        info["lastRetryTime"] = task.doc["stateTransitionTime"]
        info["exitCode"] = exit_code
        return True

    def requeue(self, task: Task, why: str) -> None:
        """The node was lost (preempted, pool deleted): back to active, ``requeueCount`` += 1."""
        self._stop(task, why)
        self._back_to_active(task)
        info = task.doc["executionInfo"]
        info["requeueCount"] = info.get("requeueCount", 0) + 1
        info["lastRequeueTime"] = task.doc["stateTransitionTime"]

    def _back_to_active(self, task: Task) -> None:
        if task.state == "running" and task.ended is None:
            self._release(task)
        self._count(task, task.state, -1)
        task.set_state("active")
        self._count(task, "active", +1)
        task.doc.pop("nodeInfo", None)
        task.job.pending.appendleft(task)
        self.wake()


def _task_exists() -> BatchError:
    return BatchError(409, "TaskExists", "The specified task already exists.")
