"""Compute nodes on this machine: a dispatcher starts runnable tasks, one thread per running task.

Each run uses ``<root>/<pool>/<job>/<task>/`` with ``stdout.txt``, ``stderr.txt`` and ``wd/``
(the working directory), downloads resource files, runs the command line without a shell (as
the node agent does), uploads output files, then records the outcome in the store.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
from pathlib import Path

from . import rules
from .faults import Faults
from .files import TaskFailure, download_resources, upload_outputs
from .store import Store, Task

PREEMPT_AFTER = 0.05     # seconds a preempted run gets before its node disappears


def rewrite_mounts(args: list[str], mounts: dict[str, str]) -> list[str]:
    """Emulated bind mounts: replace ``CONTAINER_PATH`` (alone or followed by ``/``) by the host path.

    Besides whole arguments this also rewrites the path where it starts a word inside an
    argument (so ``/bin/sh -c 'python /app/w.py'`` works too).
    """
    out = []
    for arg in args:
        for cpath, hpath in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
            cpath = cpath.rstrip("/") or "/"
            pattern = r"(?<![^\s'\"=:])" + re.escape(cpath) + r"(?=/|$|[\s'\";:])"
            arg = re.sub(pattern, lambda _m: hpath, arg)
        out.append(arg)
    return out


def task_directory(root: Path, task: Task) -> Path:
    """``<root>/<pool>/<job>/<task>``: stdout.txt and stderr.txt here, the working dir in ``wd/``."""
    return root / task.job.doc["poolInfo"]["poolId"] / task.job.id / task.id


class Node:
    """Runs the store's runnable tasks as local processes."""

    def __init__(self, store: Store, root: Path, faults: Faults, account: str,
                 mounts: dict[str, str] | None = None, workers: int | None = None):
        self.store, self.root, self.faults, self.account = store, root.resolve(), faults, account
        self.mounts, self.workers = mounts or {}, workers
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, name="emulator-dispatch", daemon=True)
        store.kill = self._kill

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self.store.changed:
            self.store.changed.notify_all()
            tasks = [t for j in self.store.jobs.values() for t in j.tasks.values() if t.state == "running"]
        for task in tasks:
            self._kill(task)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _dispatch(self) -> None:
        while not self._stopping.is_set():
            with self.store.changed:
                self.store.changed.wait_for(lambda: self.store.dirty or self._stopping.is_set(), timeout=0.5)
                self.store.dirty = False
            if self._stopping.is_set():
                return
            for task, run in self.store.take_runnable(self.workers):
                threading.Thread(target=self._run, args=(task, run), daemon=True,
                                 name=f"task-{task.job.id}-{task.id}").start()

    @staticmethod
    def _kill(task: Task) -> None:
        proc = task.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # ---- one run
    def _run(self, task: Task, run: int) -> None:
        store = self.store
        with store.lock:
            doc, pool, job_id = task.doc, task.pool, task.job.id
            if not store.current(task, run) or pool is None:
                return
            node_id = store.node_id(pool, task.node)
            dedicated = task.node < pool.dedicated
            mismatch = rules.container_mismatch(doc, pool.doc)
            if mismatch:
                store.complete(task, None, {"category": "usererror", "code": "ContainerInvalidSettings",
                                            "message": mismatch.values.get("Reason", mismatch.message)})
                return
        task_dir = task_directory(self.root, task)
        wd = task_dir / "wd"
        wd.mkdir(parents=True, exist_ok=True)
        try:
            download_resources(doc.get("resourceFiles"), wd)
        except TaskFailure as exc:   # not retried by maxTaskRetryCount, as on the service
            return self._finish(task, run, None, exc.info)

        args = shlex.split(doc["commandLine"])
        if doc.get("containerSettings"):
            args = rewrite_mounts(args, self.mounts)
        env = dict(os.environ)
        env.update({
            "AZ_BATCH_ACCOUNT_NAME": self.account, "AZ_BATCH_POOL_ID": pool.id,
            "AZ_BATCH_NODE_ID": node_id, "AZ_BATCH_JOB_ID": job_id, "AZ_BATCH_TASK_ID": task.id,
            "AZ_BATCH_TASK_DIR": str(task_dir), "AZ_BATCH_TASK_WORKING_DIR": str(wd),
            "AZ_BATCH_NODE_ROOT_DIR": str(self.root / pool.id),
            "AZ_BATCH_NODE_SHARED_DIR": str(self.root / pool.id / "shared"),
            "AZ_BATCH_NODE_IS_DEDICATED": "true" if dedicated else "false",
        })
        (self.root / pool.id / "shared").mkdir(parents=True, exist_ok=True)
        env.update({e["name"]: e.get("value", "") for e in doc.get("environmentSettings") or []})
        wall = rules.parse_duration(doc["constraints"].get("maxWallClockTime"))
        preempt = self.faults.preempt()
        try:
            with open(task_dir / "stdout.txt", "wb") as out, open(task_dir / "stderr.txt", "wb") as err:
                proc = subprocess.Popen(args, cwd=wd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=err, start_new_session=True)
        except FileNotFoundError:
            return self._finish(task, run, None, {"category": "usererror", "code": "CommandProgramNotFound",
                                                  "message": f"The program {args[0]!r} was not found."})
        except OSError as exc:
            return self._finish(task, run, None, {"category": "usererror", "code": "CommandLaunchFailed",
                                                  "message": str(exc)})
        with store.lock:
            task.proc = proc
            if not store.current(task, run):
                self._kill(task)
        if preempt:
            try:
                proc.wait(timeout=PREEMPT_AFTER)
            except subprocess.TimeoutExpired:
                pass
            with store.lock:
                if store.current(task, run):
                    store.requeue(task, "preempted")
                self._kill(task)
            proc.wait()
            return
        timeout = wall.total_seconds() if wall and wall.days < 10000 else None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with store.lock:
                if store.current(task, run):
                    store.end_task(task, "TaskEnded",
                                   "The task exceeded its maxWallClockTime and was terminated.")
                self._kill(task)
            proc.wait()
            return
        code = 128 - code if code < 0 else code      # killed by a signal: as a shell reports it
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
            return self._finish(task, run, code, {
                "category": "usererror", "code": "FailureExitCode",
                "message": "The task process exited with an unexpected exit code",
                "details": [{"name": "Message", "value": f"The task process exited with an unexpected exit code: {code}"}]})
        self._finish(task, run, 0, None)

    def _finish(self, task: Task, run: int, code: int | None, failure: dict | None) -> None:
        with self.store.lock:
            if self.store.current(task, run):
                self.store.complete(task, code, failure)
