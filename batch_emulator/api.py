"""The emulated operations, one method per operation id of the REST definition.

Handlers return a :class:`Reply`; documents keep :data:`entities.BASE` in their URLs (the HTTP
layer puts in the host the client used). Request bodies arrive already checked against the
definition; the handlers apply the service's rules beyond it (``rules.py``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from . import rules, versions
from .definition import Operation
from .entities import BASE, ComputeNode, Entity, Task
from .errors import BatchError
from .nodedirs import node_root, task_directory
from .nodefiles import file_answer, listing
from .odata import bad_query, compile_filter, select
from .store import Store


class Reply:
    """A response: status, JSON document or raw bytes, extra headers, and the resource it is
    about (for ``ETag``/``Last-Modified`` and conditional headers)."""

    def __init__(
        self,
        status: int,
        body: dict | bytes | None = None,
        headers: dict | None = None,
        entity: Entity | ComputeNode | None = None,
    ):
        self.status, self.body, self.headers, self.entity = status, body, headers or {}, entity
        self.operation: Operation | None = None  # the definition's operation, set by the HTTP layer


def _fields(params: dict) -> list[str] | None:
    s = params.get("$select")
    return [f.strip() for f in s.split(",") if f.strip()] if s else None


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


class Api:
    """Operation id -> handler; ``target`` names the resource a request is about."""

    def __init__(self, store: Store, root: Path):
        self.store, self.root = store, root
        self.handlers: dict[str, Callable[..., Reply]] = {
            "Pools_CreatePool": self.create_pool,
            "Pools_ListPools": self.list_pools,
            "Pools_GetPool": self.get_pool,
            "Pools_PoolExists": self.pool_exists,
            "Pools_DeletePool": self.delete_pool,
            "Pools_ResizePool": self.resize_pool,
            "Pools_DisablePoolAutoScale": self.disable_autoscale,
            "Pools_ListSupportedImages": self.supported_images,
            "Nodes_ListNodes": self.list_nodes,
            "Nodes_GetNode": self.get_node,
            "Nodes_ListNodeFiles": self.list_node_files,
            "Nodes_GetNodeFile": self.get_node_file,
            "Nodes_GetNodeFileProperties": self.get_node_file,
            "Jobs_CreateJob": self.create_job,
            "Jobs_ListJobs": self.list_jobs,
            "Jobs_GetJob": self.get_job,
            "Jobs_UpdateJob": self.update_job,
            "Jobs_DeleteJob": self.delete_job,
            "Jobs_TerminateJob": self.terminate_job,
            "Jobs_GetJobTaskCounts": self.task_counts,
            "Jobs_ListJobPreparationAndReleaseTaskStatus": self.prep_status,
            "Tasks_CreateTask": self.add_task,
            "Tasks_CreateTaskCollection": self.add_task_collection,
            "Tasks_ListTasks": self.list_tasks,
            "Tasks_GetTask": self.get_task,
            "Tasks_DeleteTask": self.delete_task,
            "Tasks_TerminateTask": self.terminate_task,
            "Tasks_ReactivateTask": self.reactivate_task,
            "Tasks_ListSubTasks": self.list_subtasks,
            "Tasks_ListTaskFiles": self.list_task_files,
            "Tasks_GetTaskFile": self.get_task_file,
            "Tasks_GetTaskFileProperties": self.get_task_file,
        }

    def target(self, args: dict) -> Entity | ComputeNode | None:
        """The existing resource named by a request's path (task, node, job or pool), if any."""
        with self.store.lock:
            if "jobId" in args:
                job = self.store.jobs.get(args["jobId"].lower())
                if job is not None and "taskId" in args:
                    return job.tasks.get(args["taskId"].lower())
                return job
            if "poolId" in args:
                pool = self.store.pools.get(args["poolId"].lower())
                if pool is not None and "nodeId" in args:
                    return pool.node(args["nodeId"])
                return pool
        return None

    # ---- helpers
    def _doc(
        self, kind: str, entity: Entity, params: dict, shape: Callable[[dict], dict] | None = None
    ) -> Reply:
        """``entity``'s document (through ``shape``, e.g. a pool as an api-version reads it)."""
        with self.store.lock:
            body = {"odata.metadata": f"{BASE}/$metadata#{kind}/@Element"}
            body.update(select(shape(entity.doc) if shape else entity.doc, _fields(params)))
            return Reply(200, _json(body), {"DataServiceId": entity.doc["url"]}, entity)

    def _page(self, kind: str, path: str, params: dict, docs: Callable[[], list[dict]]) -> Reply:
        """A page of a list, with ``odata.nextLink`` carrying the query in ``$skiptoken``."""
        token = params.get("$skiptoken")
        if token:
            try:
                q = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            except ValueError:
                raise bad_query("$skiptoken", token, "Not a token this service issued.") from None
        else:
            q = {
                "f": params.get("$filter"),
                "s": params.get("$select"),
                "o": 0,
                "m": params.get("maxresults", "1000"),
                "r": params.get("recursive"),
            }
        try:
            size = int(q["m"])
        except ValueError:
            size = 0
        if not 1 <= size <= 1000:
            raise bad_query("maxresults", str(q["m"]), "maxresults must be between 1 and 1000.")
        pred, fields = compile_filter(q["f"]), _fields({"$select": q["s"]})
        with self.store.lock:
            matched = [d for d in docs() if pred(d)]
        page = matched[q["o"] : q["o"] + size]
        body = {
            "odata.metadata": f"{BASE}/$metadata#{kind}",
            "value": [select(d, fields) for d in page],
        }
        if q["o"] + size < len(matched):
            tok = (
                base64.urlsafe_b64encode(json.dumps(dict(q, o=q["o"] + size)).encode())
                .decode()
                .rstrip("=")
            )
            version = quote(params.get("api-version", ""), safe="")
            body["odata.nextLink"] = f"{BASE}{path}?api-version={version}&$skiptoken={tok}"
        return Reply(200, _json(body))

    @staticmethod
    def _created(entity: Entity) -> Reply:
        return Reply(
            201, None, {"DataServiceId": entity.doc["url"], "Location": entity.doc["url"]}, entity
        )

    @staticmethod
    def _accepted(status: int, entity: Entity) -> Reply:
        return Reply(status, None, {"DataServiceId": entity.doc["url"]}, entity)

    # ---- pools and nodes
    def create_pool(self, body, params, **_):
        body = versions.pool_as_created(body, params.get("api-version"))
        return self._created(self.store.create_pool(body))

    def list_pools(self, params, **_):
        version = params.get("api-version")
        return self._page(
            "pools",
            "/pools",
            params,
            lambda: [versions.pool_as_read(p.doc, version) for p in self.store.pools.values()],
        )

    def get_pool(self, poolId, params, **_):
        version = params.get("api-version")
        return self._doc(
            "pools", self.store.pool(poolId), params, lambda d: versions.pool_as_read(d, version)
        )

    def pool_exists(self, poolId, **_):
        entity = self.store.pools.get(poolId.lower())
        return Reply(404) if entity is None else Reply(200, None, {}, entity)

    def resize_pool(self, poolId, body, **_):
        return Reply(202, None, {"DataServiceId": self.store.resize_pool(poolId, body).doc["url"]})

    def disable_autoscale(self, poolId, **_):
        pool = self.store.disable_autoscale(poolId)
        return Reply(200, None, {"DataServiceId": pool.doc["url"]}, pool)

    def supported_images(self, params, **_):
        return self._page(
            "supportedimages", "/supportedimages", params, lambda: list(self.store.supported_images)
        )

    def delete_pool(self, poolId, **_):
        self.store.delete_pool(poolId)
        return Reply(202)

    def list_nodes(self, poolId, params, **_):
        pool = self.store.pool(poolId)
        return self._page(
            "nodes", f"/pools/{quote(poolId)}/nodes", params, lambda: [n.doc() for n in pool.nodes]
        )

    def get_node(self, poolId, nodeId, params, **_):
        with self.store.lock:
            node = self.store.node(poolId, nodeId)
            body = {"odata.metadata": f"{BASE}/$metadata#nodes/@Element"}
            body.update(select(node.doc(), _fields(params)))
            return Reply(200, _json(body), {}, node)

    def list_node_files(self, poolId, nodeId, params, **_):
        node = self.store.node(poolId, nodeId)
        base = node_root(self.root, node)
        url = f"{node.url}/files"
        return self._page(
            "files",
            f"/pools/{quote(poolId)}/nodes/{quote(nodeId)}/files",
            params,
            lambda: listing(base, url, params),
        )

    def get_node_file(self, poolId, nodeId, filePath, headers, **_):
        node = self.store.node(poolId, nodeId)
        return Reply(
            200,
            *file_answer(node_root(self.root, node), filePath, f"{node.url}/files", headers),
        )

    # ---- jobs
    def create_job(self, body, **_):
        return self._created(self.store.create_job(body))

    def list_jobs(self, params, **_):
        return self._page(
            "jobs", "/jobs", params, lambda: [j.doc for j in self.store.jobs.values()]
        )

    def get_job(self, jobId, params, **_):
        return self._doc("jobs", self.store.job(jobId), params)

    def update_job(self, jobId, body, **_):
        return self._accepted(200, self.store.update_job(jobId, body))

    def delete_job(self, jobId, **_):
        self.store.delete_job(jobId)
        return Reply(202)

    def terminate_job(self, jobId, body, **_):
        self.store.terminate_job(jobId, (body or {}).get("terminateReason"))
        return self._accepted(202, self.store.job(jobId))

    def task_counts(self, jobId, **_):
        body = {"odata.metadata": f"{BASE}/$metadata#taskcountsresult/@Element"}
        body.update(self.store.task_counts(jobId))
        return Reply(200, _json(body))

    def prep_status(self, jobId, params, **_):
        job = self.store.job(jobId)
        return self._page(
            "jobpreparationandreleasetaskstatuslist",
            f"/jobs/{quote(jobId)}/jobpreparationandreleasetaskstatus",
            params,
            lambda: [r.doc() for r in job.preps.values() if r.prep],
        )

    # ---- tasks
    def add_task(self, jobId, body, **_):
        return self._created(self.store.add_task(jobId, body))

    def add_task_collection(self, jobId, body, **_):
        tasks = body["value"]
        if len(tasks) > rules.MAX_TASKS_PER_COLLECTION:
            raise rules.too_large(
                f"{len(tasks)} tasks; at most {rules.MAX_TASKS_PER_COLLECTION} "
                "may be added in one request."
            )
        results = self.store.add_tasks(jobId, tasks)
        out = {"odata.metadata": f"{BASE}/$metadata#taskaddresult", "value": results}
        return Reply(200, _json(out))

    def list_tasks(self, jobId, params, **_):
        self.store.job(jobId)
        return self._page(
            "tasks",
            f"/jobs/{quote(jobId)}/tasks",
            params,
            lambda: [t.doc for t in self.store.job(jobId).tasks.values()],
        )

    def get_task(self, jobId, taskId, params, **_):
        return self._doc("tasks", self.store.task(jobId, taskId), params)

    def delete_task(self, jobId, taskId, **_):
        self.store.delete_task(jobId, taskId)
        return Reply(200)

    def terminate_task(self, jobId, taskId, **_):
        self.store.terminate_task(jobId, taskId)
        return self._accepted(204, self.store.task(jobId, taskId))

    def reactivate_task(self, jobId, taskId, **_):
        self.store.reactivate_task(jobId, taskId)
        return self._accepted(204, self.store.task(jobId, taskId))

    def list_subtasks(self, jobId, taskId, **_):
        """Empty: "If the Task is not a multi-instance Task then this returns an empty
        collection" (the definition), and the emulator refuses multi-instance tasks."""
        task = self.store.task(jobId, taskId)
        body = {"odata.metadata": f"{BASE}/$metadata#subtaskinformation", "value": []}
        return Reply(200, _json(body), {}, task)

    def _task_dir(self, jobId: str, taskId: str) -> tuple[Task, Path | None]:
        with self.store.lock:
            task = self.store.task(jobId, taskId)
            return task, task_directory(self.root, task)

    def list_task_files(self, jobId, taskId, params, **_):
        task, base = self._task_dir(jobId, taskId)
        url = f"{task.doc['url']}/files"
        return self._page(
            "files",
            f"/jobs/{quote(jobId)}/tasks/{quote(taskId)}/files",
            params,
            lambda: listing(base, url, params) if base else [],
        )

    def get_task_file(self, jobId, taskId, filePath, headers, **_):
        task, base = self._task_dir(jobId, taskId)
        if base is None:
            raise BatchError(
                404, "FileNotFound", "The specified file does not exist.", {"FilePath": filePath}
            )
        return Reply(200, *file_answer(base, filePath, f"{task.doc['url']}/files", headers))
