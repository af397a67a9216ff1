"""Resources as the service's JSON documents: pools (with their nodes), jobs and tasks.

URLs inside documents start with :data:`BASE`, replaced by the scheme and host the client used
when a document is answered, so that ``url`` and ``odata.nextLink`` follow a proxy in front.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections import deque
from datetime import datetime, timezone

BASE = "@@BASE@@"
FOREVER = "P10675199DT2H48M5.4775807S"
RECENT_TASKS = 5

_etags = itertools.count(0x8D4125FD1A825A4)


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """The service's timestamp format (``2016-11-21T22:43:31.473347Z``)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_etag() -> str:
    return f"0x{next(_etags):X}"


class Entity:
    """A resource: its REST document plus the ETag/Last-Modified bookkeeping."""

    def __init__(self, doc: dict, url: str):
        self.doc = doc
        doc.update(url=url, creationTime=iso(now()))
        self.touch()

    def touch(self) -> None:
        self.modified = now()
        self.doc["eTag"] = new_etag()
        self.doc["lastModified"] = iso(self.modified)

    @property
    def id(self) -> str:
        return self.doc["id"]

    @property
    def state(self) -> str:
        return self.doc["state"]

    def set_state(self, state: str) -> None:
        if "state" in self.doc:
            self.doc["previousState"] = self.doc["state"]
            self.doc["previousStateTransitionTime"] = self.doc["stateTransitionTime"]
        self.doc["state"] = state
        self.doc["stateTransitionTime"] = iso(now())
        self.touch()


class ComputeNode:
    """One node of a pool: its slots in use, its running tasks and its counters."""

    def __init__(self, pool: Pool, index: int, dedicated: bool):
        self.pool, self.index, self.dedicated = pool, index, dedicated
        self.id = f"tvmps_emulator_{'d' if dedicated else 'lp'}_{index}"
        self.used = 0
        self.running: list[Task] = []
        self.total_run = self.total_succeeded = 0
        self.recent: deque[dict] = deque(maxlen=RECENT_TASKS)
        self.since = iso(now())
        self.etag, self.modified = new_etag(), now()
        # The pool's start task on this node: "pending" (not started), "running", "done".
        self.start_phase = "pending" if pool.start_task else "done"
        self.start_info: dict | None = None  # BatchStartTaskInfo once it has started
        self.start_ok = pool.start_task is None

    @property
    def waits_for_start_task(self) -> bool:
        start = self.pool.start_task
        return bool(start and start.get("waitForSuccess") is not False)

    @property
    def usable(self) -> bool:
        """Whether tasks may be scheduled here: with ``waitForSuccess`` (the default) only once
        the start task has succeeded; a node whose start task failed takes none."""
        return not self.waits_for_start_task or (self.start_phase == "done" and self.start_ok)

    @property
    def state(self) -> str:
        if self.waits_for_start_task and self.start_phase != "done":
            return "waitingforstarttask"
        if self.waits_for_start_task and not self.start_ok:
            return "starttaskfailed"
        return "running" if self.running else "idle"

    @property
    def url(self) -> str:
        return f"{self.pool.doc['url']}/nodes/{self.id}"

    def changed(self) -> None:
        self.etag, self.modified = new_etag(), now()

    def doc(self) -> dict:
        pool = self.pool.doc
        vmc = pool.get("virtualMachineConfiguration") or {}
        out = {
            "id": self.id,
            "url": self.url,
            "state": self.state,
            "schedulingState": "enabled",
            "stateTransitionTime": self.since,
            "lastBootTime": pool["creationTime"],
            "allocationTime": pool["creationTime"],
            "ipAddress": "127.0.0.1",
            "ipv6Address": "::1",
            "affinityId": f"TVM:{self.id}",
            "vmSize": pool.get("vmSize"),
            "totalTasksRun": self.total_run,
            "runningTasksCount": len(self.running),
            "runningTaskSlotsCount": self.used,
            "totalTasksSucceeded": self.total_succeeded,
            "recentTasks": list(self.recent),
            "isDedicated": self.dedicated,
            "nodeAgentInfo": {"version": "emulator", "lastUpdateTime": pool["creationTime"]},
            "virtualMachineInfo": {"imageReference": vmc["imageReference"]}
            if vmc.get("imageReference")
            else {},
        }
        if self.pool.start_task:
            out["startTask"] = self.pool.start_task
        if self.start_info is not None:
            out["startTaskInfo"] = dict(self.start_info)
        return out


class Pool(Entity):
    """A pool that is at once allocated: ``steady``, its current node counts equal to its targets."""

    def __init__(self, body: dict, url: str, no_spot: bool, workers: int | None):
        super().__init__(body, url)
        body.setdefault("taskSlotsPerNode", 1)
        body.setdefault("resizeTimeout", "PT15M")
        self.set_state("active")
        body.update(
            allocationState="steady", allocationStateTransitionTime=body["stateTransitionTime"]
        )
        if body.get("enableAutoScale"):
            dedicated, spot = workers or 1, 0
        else:
            body.setdefault("targetDedicatedNodes", 0)
            body.setdefault("targetLowPriorityNodes", 0)
            dedicated, spot = body["targetDedicatedNodes"], body["targetLowPriorityNodes"]
            if no_spot and spot:
                body["resizeErrors"] = [
                    {
                        "code": "AccountLowPriorityCoreQuotaReached",
                        "message": "The specified account has reached its low priority core quota "
                        "(emulator --no-spot: no Spot nodes are ever allocated).",
                        "values": [{"name": "targetLowPriorityNodes", "value": str(spot)}],
                    }
                ]
                spot = 0
        body.update(currentDedicatedNodes=dedicated, currentLowPriorityNodes=spot)
        self.nodes = [ComputeNode(self, i, i < dedicated) for i in range(dedicated + spot)]

    @property
    def start_task(self) -> dict | None:
        return self.doc.get("startTask")

    @property
    def slots_per_node(self) -> int:
        return max(1, int(self.doc["taskSlotsPerNode"]))

    def node(self, node_id: str) -> ComputeNode | None:
        return next((n for n in self.nodes if n.id.lower() == node_id.lower()), None)

    def resize(self, dedicated: int, spot: int) -> list[ComputeNode]:
        """Keep the first nodes of each kind, add new ones; return the nodes kept."""
        old_dedicated = [n for n in self.nodes if n.dedicated]
        old_spot = [n for n in self.nodes if not n.dedicated]
        kept = old_dedicated[:dedicated] + old_spot[:spot]
        used = {n.index for n in self.nodes}
        fresh = []
        for want, have, is_dedicated in (
            (dedicated, len(old_dedicated), True),
            (spot, len(old_spot), False),
        ):
            for _ in range(max(0, want - have)):
                index = max(used | {-1}) + 1
                used.add(index)
                fresh.append(ComputeNode(self, index, is_dedicated))
        self.nodes = kept + fresh
        self.doc.update(currentDedicatedNodes=dedicated, currentLowPriorityNodes=spot)
        return kept


class Task(Entity):
    """A task and its run bookkeeping (``run`` counts starts so stale runners can tell)."""

    def __init__(self, body: dict, url: str, job: Job):
        super().__init__(body, url)
        self.job = job
        c = body.setdefault("constraints", {})
        job_retries = (job.doc.get("constraints") or {}).get("maxTaskRetryCount")
        c.setdefault("maxTaskRetryCount", job_retries if job_retries is not None else 0)
        c.setdefault("maxWallClockTime", FOREVER)
        c.setdefault("retentionTime", "P7D")
        body.setdefault("requiredSlots", 1)
        body.setdefault(
            "userIdentity", {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}}
        )
        body["executionInfo"] = {"retryCount": 0, "requeueCount": 0}
        self.run = 0
        self.proc: subprocess.Popen | None = None  # the running process, set by the node
        self.ended: str | None = None  # why the current run was cut short (terminate/delete/...)
        self.pool: Pool | None = None
        self.node: ComputeNode | None = None
        self.set_state("active")

    @property
    def slots(self) -> int:
        return max(1, int(self.doc.get("requiredSlots") or 1))

    def info(self) -> dict:
        """The ``BatchTaskInfo`` a node lists among its recent tasks."""
        info = self.doc["executionInfo"]
        out = {
            "taskUrl": self.doc["url"],
            "jobId": self.job.id,
            "taskId": self.id,
            "taskState": self.state,
            "executionInfo": {
                k: v
                for k, v in info.items()
                if k
                in (
                    "startTime",
                    "endTime",
                    "exitCode",
                    "failureInfo",
                    "retryCount",
                    "requeueCount",
                    "result",
                )
            },
        }
        return out


class PrepRecord:
    """A job's preparation (and later release) task on one node."""

    def __init__(self, node: ComputeNode):
        self.node = node
        self.prep: dict = {}  # BatchJobPreparationTaskExecutionInfo
        self.release: dict | None = None
        self.done = False  # finished (success or failure) with no retries left
        self.ok = False
        self.lock = threading.Lock()  # held by the runner that runs the preparation task

    def doc(self) -> dict:
        out = {
            "poolId": self.node.pool.id,
            "nodeId": self.node.id,
            "nodeUrl": self.node.url,
            "jobPreparationTaskExecutionInfo": self.prep,
        }
        if self.release is not None:
            out["jobReleaseTaskExecutionInfo"] = self.release
        return out


class Job(Entity):
    """A job: its tasks (keyed case-insensitively), its queue of active tasks and its counts."""

    def __init__(self, body: dict, url: str):
        super().__init__(body, url)
        body.setdefault("priority", 0)
        body.setdefault("maxParallelTasks", -1)
        body.setdefault("onAllTasksComplete", "noaction")
        body.setdefault("onTaskFailure", "noaction")
        body.setdefault("usesTaskDependencies", False)
        constraints = body.setdefault("constraints", {})
        constraints.setdefault("maxWallClockTime", FOREVER)
        constraints.setdefault("maxTaskRetryCount", 0)
        body["executionInfo"] = {
            "startTime": body["creationTime"],
        }
        if body["poolInfo"].get("poolId"):
            body["executionInfo"]["poolId"] = body["poolInfo"]["poolId"]
        self.auto_pool: Pool | None = None  # the pool made for it (autoPoolSpecification)
        self.tasks: dict[str, Task] = {}
        self.pending: deque[Task] = deque()
        self.counts = {k: [0, 0] for k in ("active", "running", "completed", "success", "failure")}
        self.counts_history: deque[tuple[float, dict]] = deque()  # the store's counts lag
        self.running = 0
        self.born = time.monotonic()
        self.deadline: float | None = None  # monotonic time of maxWallClockTime, set by the store
        self.preps: dict[str, PrepRecord] = {}  # node id -> its preparation/release record
        self.releasing = False  # deleting: release tasks still running (the job stays)
        self.delete_due = False  # deleting: the delete delay has passed
        self.set_state("active")

    @property
    def pool_key(self) -> str:
        return (self.doc["executionInfo"].get("poolId") or "").lower()

    @property
    def prep_task(self) -> dict | None:
        return self.doc.get("jobPreparationTask")

    @property
    def release_task(self) -> dict | None:
        return self.doc.get("jobReleaseTask")
