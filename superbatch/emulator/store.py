"""The emulator's state and every state transition of pools, jobs and tasks.

All under one lock; ``changed`` is notified whenever work may be runnable. The node
(``node.py``) runs what :meth:`Store.take_runnable` hands it and reports back here.
"""
from __future__ import annotations

import threading
import time

from . import policies, rules
from .entities import BASE, FOREVER, ComputeNode, Job, Pool, PrepRecord, Task, iso
from .errors import BatchError, not_found
from .validation import parse_duration

_COUNTED = {"preparing": "running"}       # task counts report preparing tasks as running


class Store:
    """All resources and transitions. Methods raise :class:`BatchError` as the service answers."""

    def __init__(self, no_spot: bool = False, workers: int | None = None):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.no_spot, self.workers = no_spot, workers
        self.pools: dict[str, Pool] = {}
        self.jobs: dict[str, Job] = {}
        self.kill = lambda task: None               # set by the node: stop a task's process
        self.release = lambda job, records: None    # set by the node: run a job's release tasks
        self.dirty = False                          # something may have become runnable

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

    def delete_pool(self, pool_id: str) -> None:
        """Remove a pool; tasks running on its nodes are requeued (their nodes are gone)."""
        with self.lock:
            pool = self.pool(pool_id)
            del self.pools[pool_id.lower()]
            for job in self.jobs.values():
                for task in list(job.tasks.values()):
                    if task.state in ("running", "preparing") and task.pool is pool:
                        self.requeue(task, "pooldeleted")

    # ---- jobs
    def create_job(self, body: dict) -> Job:
        rules.check_job(body)
        with self.lock:
            if body["id"].lower() in self.jobs:
                raise BatchError(409, "JobExists", "The specified job already exists.")
            job = Job(body, f"{BASE}/jobs/{body['id']}")
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
            job = self.job(job_id)
            if job.state in ("completed", "terminating"):
                raise BatchError(409, "JobCompleted", "The specified job is already in a completed state.")
            for key in ("priority", "maxParallelTasks", "allowTaskPreemption", "onAllTasksComplete",
                        "onTaskFailure", "constraints", "poolInfo", "metadata", "displayName"):
                if key in body:
                    job.doc[key] = body[key]
            job.doc.setdefault("constraints", {}).setdefault("maxWallClockTime", FOREVER)
            job.doc["executionInfo"]["poolId"] = job.doc["poolInfo"]["poolId"]
            self._set_deadline(job)
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
            self._end_job(job, reason or "UserTerminate")

    def delete_job(self, job_id: str) -> None:
        with self.lock:
            job = self.job(job_id)
            job.set_state("deleting")
            for task in job.tasks.values():
                self._stop(task, "deleted")
            del self.jobs[job_id.lower()]
            self._run_release(job)

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

    def _complete_job(self, job: Job, reason: str | None = None) -> None:
        job.set_state("completed")
        job.doc["executionInfo"]["endTime"] = job.doc["stateTransitionTime"]
        if reason:
            job.doc["executionInfo"]["terminateReason"] = reason

    def _maybe_complete(self, job: Job) -> None:
        """``terminatejob``: once every task is completed (vacuously so with none) the job ends."""
        if (job.state == "active" and (job.doc.get("onAllTasksComplete") or "").lower() == "terminatejob"
                and job.counts["completed"][0] == len(job.tasks)):
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
                    if tid.lower() in seen:
                        raise _task_exists()
                    seen.add(tid.lower())
                    task = self._insert(job, body)
                    results.append({"status": "success", "taskId": task.id, "eTag": task.doc["eTag"],
                                    "lastModified": task.doc["lastModified"], "location": task.doc["url"]})
                except BatchError as exc:
                    results.append({"status": "clienterror", "taskId": tid if isinstance(tid, str) else "",
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
            rules.check_task(body, job.doc, pool.doc if pool else None)
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
            if task.state in ("active", "running", "preparing"):
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

    # ---- scheduling
    def take_runnable(self, limit: int | None) -> list[tuple[Task, int]]:
        """Start every active task that fits on a node now; returns (task, run) pairs.

        A task waits while its dependencies are unmet; a node where the job's preparation task
        failed (``waitForSuccess``) takes none of that job's tasks.
        """
        started = []
        with self.lock:
            busy = sum(j.running for j in self.jobs.values())
            for job in sorted(self.jobs.values(), key=lambda j: -int(j.doc.get("priority") or 0)):
                pool = self.pools.get(job.pool_key)
                if job.state != "active" or pool is None or not job.pending:
                    continue
                cap = int(job.doc.get("maxParallelTasks", -1))
                waiting = []
                while job.pending and (limit is None or busy < limit) and (cap < 0 or job.running < cap):
                    task = job.pending.popleft()
                    if task.state != "active" or job.tasks.get(task.id.lower()) is not task:
                        continue
                    if task.doc.get("dependsOn") and not policies.dependencies_met(task, job):
                        waiting.append(task)
                        continue
                    node = self._place(job, pool, task.slots)
                    if node is None:
                        waiting.append(task)
                        break
                    started.append((task, self._start(task, pool, node)))
                    busy += 1
                job.pending.extendleft(reversed(waiting))
        return started

    def _place(self, job: Job, pool: Pool, slots: int) -> ComputeNode | None:
        blocked = job.prep_task is not None and job.prep_task.get("waitForSuccess", True) is not False
        for node in pool.nodes:
            record = job.preps.get(node.id)
            if blocked and record is not None and record.done and not record.ok:
                continue
            if node.used + slots <= pool.slots_per_node:
                return node
        return None

    def _start(self, task: Task, pool: Pool, node: ComputeNode) -> int:
        self._count(task, "active", -1)
        task.run += 1
        task.ended, task.pool, task.node = None, pool, node
        node.used += task.slots
        node.running.append(task)
        node.changed()
        task.job.running += 1
        record = self.prep_record(task.job, node)
        needs_prep = record is not None and not record.done
        task.set_state("preparing" if needs_prep and task.job.prep_task.get("waitForSuccess", True) is not False
                       else "running")
        self._count(task, task.state, +1)
        info = task.doc["executionInfo"]
        info["startTime"] = task.doc["stateTransitionTime"]
        for k in ("endTime", "exitCode", "result", "failureInfo"):
            info.pop(k, None)
        root = f"workitems/{task.job.id}/job-1/{task.id}"
        task.doc["nodeInfo"] = {"poolId": pool.id, "nodeId": node.id, "affinityId": f"TVM:{node.id}",
                                "nodeUrl": node.url, "taskRootDirectory": root,
                                "taskRootDirectoryUrl": f"{node.url}/files/{root}"}
        return task.run

    def prep_record(self, job: Job, node: ComputeNode) -> PrepRecord | None:
        """The job's preparation record on ``node`` (created on first use); None without one."""
        if job.prep_task is None:
            return None
        return job.preps.setdefault(node.id, PrepRecord(node))

    def prepared(self, task: Task, run: int, ok: bool) -> None:
        """The preparation task a ``preparing`` task waited for has finished on its node."""
        if not self.current(task, run):
            return
        if ok:
            if task.state == "preparing":
                self._count(task, "preparing", -1)
                task.set_state("running")
                self._count(task, "running", +1)
        else:       # back to active, for a node where the preparation task succeeds
            self._stop(task, "unprepared")
            self._count(task, task.state, -1)
            task.set_state("active")
            self._count(task, "active", +1)
            task.doc.pop("nodeInfo", None)
            task.job.pending.append(task)
            self.wake()

    def current(self, task: Task, run: int) -> bool:
        """Whether ``run`` is still the task's live run (not ended, deleted or superseded)."""
        return task.run == run and task.ended is None and task.state in ("running", "preparing")

    # ---- transitions used by the node
    def _count(self, task: Task, state: str, sign: int) -> None:
        c = task.job.counts
        keys = [_COUNTED.get(state, state)]
        if state == "completed":
            keys.append(task.doc["executionInfo"].get("result", "failure"))
        for k in keys:
            c[k][0] += sign
            c[k][1] += sign * task.slots

    def _stop(self, task: Task, why: str) -> None:
        """Cut the current run short (the node's runner sees ``ended`` and drops its result)."""
        if task.state in ("running", "preparing"):
            task.ended = why
            self._release(task)
            self.kill(task)

    def _release(self, task: Task) -> None:
        node = task.node
        if node is not None:
            node.used -= task.slots
            if task in node.running:
                node.running.remove(task)
            node.changed()
        task.pool = task.node = None
        task.job.running -= 1
        self.wake()

    def end_task(self, task: Task, code: str, message: str) -> None:
        """Complete a task as failed without an exit code from its process (terminate, timeout)."""
        self._stop(task, "ended")
        self.complete(task, None, {"category": "usererror", "code": code, "message": message})

    def complete(self, task: Task, exit_code: int | None, failure: dict | None) -> None:
        """Enter ``completed`` with the run's exit code and failure info; apply the job's
        ``onTaskFailure`` and wake the tasks that depend on this one."""
        node = task.node
        if task.state in ("running", "preparing") and task.ended is None:
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
        if node is not None:
            node.total_run += 1
            node.total_succeeded += failure is None
            node.recent.append(task.info())
        job = task.job
        if failure and job.state == "active" and \
                (job.doc.get("onTaskFailure") or "").lower() == "performexitoptionsjobaction":
            action = policies.exit_options(task.doc, exit_code, failure)["jobAction"]
            if action == "terminate":
                self._end_job(job, "TaskFailed")
            elif action == "disable":
                job.set_state("disabled")
        self._maybe_complete(job)
        self.wake()

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
        if task.state in ("running", "preparing") and task.ended is None:
            self._release(task)
        self._count(task, task.state, -1)
        task.set_state("active")
        self._count(task, "active", +1)
        task.doc.pop("nodeInfo", None)
        task.job.pending.appendleft(task)
        self.wake()


def _task_exists() -> BatchError:
    return BatchError(409, "TaskExists", "The specified task already exists.")


__all__ = ["Store", "iso"]
