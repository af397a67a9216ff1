"""How tasks move: scheduling onto nodes, preparation, completion, retries and requeues.

A mixin of :class:`store.Store` (it uses the store's lock, jobs, pools and job endings); every
method is called with the lock held.
"""

from __future__ import annotations

from . import policies
from .entities import ComputeNode, Job, Pool, PrepRecord, Task
from .shared import StoreShared

_COUNTED = {"preparing": "running"}  # task counts report preparing tasks as running


class Transitions(StoreShared):
    """Task state transitions (``active`` -> ``preparing``/``running`` -> ``completed``)."""

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
                if pool.state != "active":  # deleting
                    continue
                cap = int(job.doc.get("maxParallelTasks", -1))
                waiting = []
                while (
                    job.pending
                    and (limit is None or busy < limit)
                    and (cap < 0 or job.running < cap)
                ):
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

    def take_start_tasks(self) -> list[ComputeNode]:
        """Nodes whose pool's start task has yet to start there (now marked running)."""
        with self.lock:
            nodes = [
                n
                for p in self.pools.values()
                if p.state == "active"
                for n in p.nodes
                if n.start_phase == "pending"
            ]
            for node in nodes:
                node.start_phase = "running"
            return nodes

    def _place(self, job: Job, pool: Pool, slots: int) -> ComputeNode | None:
        blocked = (
            job.prep_task is not None and job.prep_task.get("waitForSuccess", True) is not False
        )
        for node in pool.nodes:
            if not node.usable:  # its start task has not succeeded (waitForSuccess)
                continue
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
        task.set_state(
            "preparing"
            if needs_prep and (task.job.prep_task or {}).get("waitForSuccess", True) is not False
            else "running"
        )
        self._count(task, task.state, +1)
        info = task.doc["executionInfo"]
        # startTime: "'Running' corresponds to the running state ... present only for Tasks
        # that are in the running or completed state" (BatchTaskExecutionInfo): a task
        # waiting for its job's preparation task gets it when it starts running.
        for k in ("startTime", "endTime", "exitCode", "result", "failureInfo"):
            info.pop(k, None)
        if task.state == "running":
            info["startTime"] = task.doc["stateTransitionTime"]
        root = f"workitems/{task.job.id}/job-1/{task.id}"
        task.doc["nodeInfo"] = {
            "poolId": pool.id,
            "nodeId": node.id,
            "affinityId": f"TVM:{node.id}",
            "nodeUrl": node.url,
            "taskRootDirectory": root,
            "taskRootDirectoryUrl": f"{node.url}/files/{root}",
        }
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
                task.doc["executionInfo"]["startTime"] = task.doc["stateTransitionTime"]
                self._count(task, "running", +1)
        else:  # back to active, for a node where the preparation task succeeds
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
        self.counts_changed(task.job)

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
        if (
            failure
            and job.state == "active"
            and (job.doc.get("onTaskFailure") or "").lower() == "performexitoptionsjobaction"
        ):
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
