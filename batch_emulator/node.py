"""Compute nodes on this machine: a dispatcher starts runnable tasks, one thread per running task.

A node's files live under ``<root>/<pool>/<node>/`` (``AZ_BATCH_NODE_ROOT_DIR``) as on the
service: ``shared/``, ``startup/`` and ``workitems/<job>/job-1/<task>/`` holding ``stdout.txt``,
``stderr.txt`` and the working directory ``wd/``. A run downloads resource files, runs the job's
preparation task first where needed, runs the command line without a shell in the declared
environment (see ``images.py``), uploads output files, then records the outcome in the store.
Whatever goes wrong in a run ends that task with a ``failureInfo``; the node carries on. The
job's preparation and release tasks are in ``jobtasks.py``.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

from . import process, rules
from .entities import ComputeNode, Job, PrepRecord, Task
from .faults import Faults
from .files import TaskFailure, download_resources, upload_outputs
from .images import DEFAULT_NODE_PATH, ImageStandIn, find
from .jobtasks import JobTasks, exit_failure, prep_id
from .nodedirs import node_root
from .starttask import StartTasks
from .store import Store
from .validation import parse_duration

PREEMPT_AFTER = 0.05  # seconds a preempted run gets before its node disappears


class Node(StartTasks, JobTasks):
    """Runs the store's runnable tasks as local processes."""

    def __init__(
        self,
        store: Store,
        root: Path,
        faults: Faults,
        account: str,
        images: dict[str, ImageStandIn] | None = None,
        node_path=DEFAULT_NODE_PATH,
        workers: int | None = None,
    ):
        self.store, self.root, self.faults, self.account = store, root.resolve(), faults, account
        self.images, self.node_path, self.workers = dict(images or {}), list(node_path), workers
        self.account_url = ""  # set by the server once it listens
        self._stopping = threading.Event()
        self._procs: set = set()  # preparation/release processes (tasks keep theirs on the Task)
        self._thread = threading.Thread(
            target=self._dispatch, name="emulator-dispatch", daemon=True
        )
        store.kill = lambda task: process.kill(task.proc)
        store.release = self._release_job

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
            tasks = [
                t for j in self.store.jobs.values() for t in j.tasks.values() if t.proc is not None
            ]
        for task in tasks:
            process.kill(task.proc)
        for proc in list(self._procs):
            process.kill(proc)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            try:
                self._dispatch_once()
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any bad document
                traceback.print_exc()
                time.sleep(0.1)

    def _dispatch_once(self) -> None:
        deadline = self.store.expire_jobs()
        wait = 0.5 if deadline is None else max(0.01, min(0.5, deadline - time.monotonic()))
        with self.store.changed:
            self.store.changed.wait_for(
                lambda: self.store.dirty or self._stopping.is_set(), timeout=wait
            )
            self.store.dirty = False
        if self._stopping.is_set():
            return
        for node in self.store.take_start_tasks():
            threading.Thread(
                target=self._run_start_task, args=(node,), daemon=True, name=f"start-{node.id}"
            ).start()
        for task, run in self.store.take_runnable(self.workers):
            threading.Thread(
                target=self._run,
                args=(task, run),
                daemon=True,
                name=f"task-{task.job.id}-{task.id}",
            ).start()

    # ---- one run of a task
    def _run(self, task: Task, run: int) -> None:
        try:
            self._run_task(task, run)
        except TaskFailure as exc:
            self._finish(task, run, None, exc.info)
        except Exception as exc:  # noqa: BLE001 - a fault in one run must end that task, not the node
            self._finish(
                task,
                run,
                None,
                {
                    "category": "servererror",
                    "code": "EmulatorInternalError",
                    "message": f"The emulator's node failed to run the task: {exc!r}",
                },
            )

    def _run_task(self, task: Task, run: int) -> None:
        store = self.store
        with store.lock:
            doc, pool, node, job = task.doc, task.pool, task.node, task.job
            if not store.current(task, run) or pool is None or node is None:
                return
            mismatch = rules.container_mismatch(doc, pool.doc)
            record = store.prep_record(job, node)
        if mismatch:
            raise TaskFailure(
                "ContainerInvalidSettings", mismatch.values.get("Reason", mismatch.message)
            )
        if record is not None:
            ok = self._prepare(job, record) or not self._waits_for_prep(job)
            with store.lock:
                store.prepared(task, run, ok)
                if not store.current(task, run):
                    return
        task_dir = node_root(self.root, node) / doc["nodeInfo"]["taskRootDirectory"]
        wd = task_dir / "wd"
        wd.mkdir(parents=True, exist_ok=True)
        for name in ("stdout.txt", "stderr.txt"):
            (task_dir / name).touch()
        image = self._image(doc.get("containerSettings"))
        download_resources(doc.get("resourceFiles"), wd)  # failures: not retried, as on the service
        args, cwd, env = self._command(doc, job, node, task.id, task_dir, wd, image, record)

        wall = parse_duration(
            doc["constraints"].get("maxWallClockTime") or "P10675199D"
        ).total_seconds()
        preempt = self.faults.preempt()
        proc = process.launch(args, cwd, env, task_dir)
        with store.lock:
            task.proc = proc
            if not store.current(task, run):
                process.kill(proc)
        try:
            if preempt:
                process.wait(proc, PREEMPT_AFTER)
                with store.lock:
                    if store.current(task, run):
                        store.requeue(task, "preempted")
                process.kill(proc)
                proc.wait()
                return
            code = process.wait(proc, wall if wall < 10**9 else None)
        finally:
            with store.lock:
                if task.proc is proc:
                    task.proc = None
        if code is None:
            with store.lock:
                if store.current(task, run):
                    store.end_task(
                        task,
                        "TaskEnded",
                        "The task exceeded its maxWallClockTime and was terminated.",
                    )
            return
        with store.lock:
            if not store.current(task, run):
                return
        try:
            upload_outputs(doc.get("outputFiles"), task_dir, wd, code)
        except TaskFailure as exc:
            return self._finish(task, run, code, exc.info)
        if code != 0:
            with store.lock:
                if store.current(task, run) and store.retry(task, code):
                    return
            return self._finish(task, run, code, exit_failure(code))
        self._finish(task, run, 0, None)

    def _finish(self, task: Task, run: int, code: int | None, failure: dict | None) -> None:
        with self.store.lock:
            if self.store.current(task, run):
                self.store.complete(task, code, failure)

    # ---- what a command runs with
    def _image(self, settings: dict | None) -> ImageStandIn | None:
        """The stand-in for a container task's image; an undeclared image cannot be pulled."""
        if not settings:
            return None
        name = settings["imageName"]
        image = find(self.images, name)
        if image is None:
            raise TaskFailure(
                "ContainerInvalidImage",
                "One or more container images specified are invalid",
                [
                    ("ContainerImage", name),
                    (
                        "Message",
                        "The image is not declared to the emulator (see its images option).",
                    ),
                ],
            )
        return image

    def _command(
        self,
        doc: dict,
        job: Job,
        node: ComputeNode,
        task_id: str,
        task_dir: Path,
        wd: Path,
        image: ImageStandIn | None,
        record: PrepRecord | None,
    ) -> tuple[list[str], Path, dict]:
        args = process.split(doc["commandLine"])
        cwd = wd
        if image is not None:
            args = [image.to_host(a) for a in args]
            mode = ((doc.get("containerSettings") or {}).get("workingDirectory") or "").lower()
            if mode == "containerimagedefault" and image.workdir:
                cwd = Path(image.to_host(image.workdir))
        root = node_root(self.root, node)
        batch = self._node_environment(node, doc, task_dir, wd)
        batch.update(AZ_BATCH_JOB_ID=job.id, AZ_BATCH_TASK_ID=task_id)
        if record is not None:
            prep_dir = self._job_dir(node, job) / prep_id(job)
            batch.update(
                AZ_BATCH_JOB_PREP_DIR=str(prep_dir),
                AZ_BATCH_JOB_PREP_WORKING_DIR=str(prep_dir / "wd"),
            )
        base = image.environment() if image is not None else {"PATH": ":".join(self.node_path)}
        base.setdefault("HOME", str(root / "home" / "_azbatch"))
        return args, cwd, process.environment(base, batch, job.doc, doc.get("environmentSettings"))

    def _node_environment(self, node: ComputeNode, doc: dict, task_dir: Path, wd: Path) -> dict:
        """The ``AZ_BATCH_*`` variables every task on the node sees (a start task: only these)."""
        root = node_root(self.root, node)
        for sub in ("shared", "startup", "home/_azbatch"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return {
            "AZ_BATCH_ACCOUNT_NAME": self.account,
            "AZ_BATCH_ACCOUNT_URL": self.account_url,
            "AZ_BATCH_POOL_ID": node.pool.id,
            "AZ_BATCH_NODE_ID": node.id,
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if node.dedicated else "false",
            "AZ_BATCH_NODE_ROOT_DIR": str(root),
            "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
            "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
            "AZ_BATCH_TASK_DIR": str(task_dir),
            "AZ_BATCH_TASK_WORKING_DIR": str(wd),
            "AZ_BATCH_TASK_USER": "_azbatch",
            "AZ_BATCH_TASK_USER_IDENTITY": process.identity_name(doc.get("userIdentity")),
        }

    def _job_dir(self, node: ComputeNode, job: Job) -> Path:
        return node_root(self.root, node) / "workitems" / job.id / "job-1"
