"""A pool's start task on each of its nodes (a mixin of :class:`node.Node`).

As the service does (``BatchStartTask`` in the definition, docs/emulator.md): it runs when the
node joins the pool, in ``<node root>/startup/`` (``AZ_BATCH_NODE_STARTUP_DIR``: ``stdout.txt``,
``stderr.txt``, working directory ``wd/`` with its resource files), without a shell, with its
``environmentSettings`` and user identity, retried up to its ``maxTaskRetryCount`` after a
nonzero exit (a resource file failure is not retried). With ``waitForSuccess`` (the default)
the node is ``waitingforstarttask`` meanwhile and takes no task; if it finally fails the node
is ``starttaskfailed`` and never takes one. ``startTaskInfo`` reports each run.
"""

from __future__ import annotations

from pathlib import Path

from . import process
from .entities import ComputeNode, iso, now
from .files import TaskFailure, download_resources
from .jobtasks import completed, exit_failure
from .nodedirs import node_root
from .shared import NodeShared


class StartTasks(NodeShared):
    """The node provides store, root, _procs, _image, _node_environment, node_path."""

    def _run_start_task(self, node: ComputeNode) -> None:
        spec = node.pool.start_task
        assert spec is not None  # run only on a node of a pool with a start task
        limit = int(spec.get("maxTaskRetryCount") or 0)
        retries = 0
        while True:
            info = {"state": "running", "startTime": iso(now()), "retryCount": retries}
            if retries:
                info["lastRetryTime"] = info["startTime"]
            with self.store.lock:
                node.start_info = info
                node.changed()
            code, failure = self._start_task_once(node, spec)
            with self.store.lock:
                completed(info, code, failure)
                node.changed()
            if failure and code not in (None, 0) and (limit == -1 or retries < limit):
                retries += 1
                continue
            with self.store.lock:
                node.start_phase, node.start_ok = "done", failure is None
                node.since = iso(now())
                node.changed()
                self.store.wake()
            return

    def _start_task_once(self, node: ComputeNode, spec: dict) -> tuple[int | None, dict | None]:
        """One run: (exit code, failureInfo)."""
        task_dir: Path = node_root(self.root, node) / "startup"
        wd = task_dir / "wd"
        try:
            wd.mkdir(parents=True, exist_ok=True)
            for name in ("stdout.txt", "stderr.txt"):
                (task_dir / name).touch()
            image = self._image(spec.get("containerSettings"))
            download_resources(spec.get("resourceFiles"), wd)
            args, cwd = process.split(spec["commandLine"]), wd
            if image is not None:
                args = [image.to_host(a) for a in args]
            base = image.environment() if image is not None else {"PATH": ":".join(self.node_path)}
            base.setdefault("HOME", str(node_root(self.root, node) / "home" / "_azbatch"))
            batch = self._node_environment(node, spec, task_dir, wd)
            env = process.environment(base, batch, {}, spec.get("environmentSettings"))
            proc = process.launch(args, cwd, env, task_dir)  # a start task has no time limit
            self._procs.add(proc)
            try:
                code = process.wait(proc, None)
            finally:
                self._procs.discard(proc)
        except TaskFailure as exc:
            return None, exc.info
        except Exception as exc:  # noqa: BLE001 - as for tasks: the node carries on
            return None, {
                "category": "servererror",
                "code": "EmulatorInternalError",
                "message": repr(exc),
            }
        return code, (exit_failure(code) if code else None)
