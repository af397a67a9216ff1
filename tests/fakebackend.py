"""A backend for the unit tier: tasks run as Python functions, in this process, at once.

Registered as ``fake`` by tests/unit/conftest.py and tests/scenarios. The worker command names
a function of ``WORKERS`` (point, globals -> output; raising fails the task; ``hold`` leaves
tasks active until ``release``), or is ``python SCRIPT``: the worker file contract, run in this
process (see ``run_script``). Its state is a JSON file in the job's state directory, so that
every command (a new Backend instance each time) sees the same job, as with a real service.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import shlex
import tempfile
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.backends.base import Backend, JobStatus, TaskFailure, pick_retries
from superbatch.backends.reports import LogChunk, TaskLogs, TaskRun
from superbatch.contract.codec import get_codec
from superbatch.contract.names import file_names
from superbatch.errors import UserError
from superbatch.plan.chunks import JobPlan
from superbatch.spec.workerenv import resolve_env
from superbatch.util import clock
from superbatch.util.bars import Progress
from superbatch.util.files import atomic_write_json

if TYPE_CHECKING:
    from superbatch.spec.load import Spec


class Hold(Exception):
    """Raised by a worker to leave its task active (it 'runs' until released)."""


class Running(Hold):
    """A worker script waits: its task has started and runs (cancel ends it as failed)."""


def _double(point, config):
    return point["x"] * config.get("scale", 2)


def _fail_on_two(point, config):
    if point["x"] == 2 and not config.get("fixed"):
        raise RuntimeError(f"bad point {point['x']}")
    return point["x"] * 2


HELD: set[str] = set()


def _hold(point, config):
    if "all" in HELD:
        raise Hold()
    return point["x"]


def _mapping(point, config):
    return {"loss": point["x"] / 2, "fit": {"a": point["x"], "ok": point["x"] % 2 == 0}}


def _array(point, config):
    return [point["x"], point["x"] + 0.5]


def _first_param(point, config):
    return next(iter(point.values())) * config.get("scale", 2)


def _foreign(point, config):
    """An object of a class from ``sbforeign``, a module that exists only while tasks run
    (like a worker's own module, which the collecting machine may not have)."""
    import sys
    import types

    module = sys.modules.setdefault("sbforeign", types.ModuleType("sbforeign"))
    if not hasattr(module, "Thing"):
        module.Thing = type("Thing", (), {"__module__": "sbforeign"})
    thing = module.Thing()
    thing.x = point["x"]
    return thing


WORKERS = {
    "double": _double,
    "fail-on-2": _fail_on_two,
    "hold": _hold,
    "mapping": _mapping,
    "array": _array,
    "first": _first_param,
    "foreign": _foreign,
}


class ScriptFailed(Exception):
    """A worker script ended without an output: its exit code and what it wrote."""

    def __init__(self, exit_code: int, stdout: str, stderr: str):
        super().__init__(stderr.strip().splitlines()[-1] if stderr.strip() else "")
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr


def _sleep_holds(seconds):
    """The fake's clock stands still: a worker that waits is running, now and at every look."""
    raise Running()


def run_script(script: str, point: dict, record, env: dict[str, str]) -> tuple[bytes, str, str]:
    """Run a worker script as the worker file contract says, in this process: in a fresh
    working directory holding the config and inputs files, with the worker's environment;
    its stdout and stderr are captured, ``sys.exit(n)`` is exit code n, an exception is 1.
    Returns the outputs file's bytes, stdout and stderr; raises ScriptFailed, or Running when
    the script waits (``time.sleep``): the task is still running."""
    import time
    from unittest import mock

    codec, names = get_codec(record.format), file_names(record.format)
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as work, mock.patch.dict(os.environ, env):
        Path(work, names.config).write_bytes(codec.dumps(record.spec.globals))
        Path(work, names.inputs).write_bytes(codec.dumps(point))
        code = 0
        try:
            os.chdir(work)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                with mock.patch.object(time, "sleep", _sleep_holds):
                    runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, int | None):
                err.write(f"{exc.code}\n")
        except Hold:
            raise
        except Exception:  # noqa: BLE001 - the worker's failure, as Python reports it
            code = 1
            err.write(traceback.format_exc())
        finally:
            os.chdir(here)
        outputs = Path(work, names.outputs)
        if code != 0 or not outputs.exists():
            raise ScriptFailed(code, out.getvalue(), err.getvalue())
        return outputs.read_bytes(), out.getvalue(), err.getvalue()


class FakeBackend(Backend):
    name = "fake"
    status_is_local = True

    @classmethod
    def worker_dir(cls, spec: Spec) -> str:
        return str(spec.worker_directory)

    @classmethod
    def slots(cls, spec: Spec, parallel: int | None) -> int:
        return parallel or 4

    # -- state --------------------------------------------------------------------------

    @property
    def _path(self):
        return self.state.dir / "fake-service.json"

    def _load(self) -> dict:
        try:
            return json.loads(self._path.read_text())
        except FileNotFoundError:
            return {"tasks": {}}

    def _save(self, data: dict) -> None:
        atomic_write_json(self._path, data)

    # -- the interface ------------------------------------------------------------------

    def submit(self, plan: JobPlan, progress: Progress) -> list[str]:
        data = self._load()
        for task, points in plan.points_with_tasks():
            data["tasks"].setdefault(
                task.id, {"state": "active", "points": points, "first": task.first_point}
            )
        self._save(data)
        return []

    def start(self, foreground: bool, progress: Progress) -> None:
        data = self._load()
        if self.state.read_progress().job_state == "terminated":
            return
        for task_id, task in sorted(data["tasks"].items()):
            if task["state"] not in ("active", "running"):
                continue
            start = clock.now()
            try:
                encoded, stdout, stderr = self._run_task(task["points"])
            except Running:
                task.update(state="running", start=task.get("start") or start)
                continue
            except Hold:
                continue
            except ScriptFailed as exc:
                task.update(state="completed", result="failure", message=str(exc))
                task.update(exit_code=exc.exit_code, stdout=exc.stdout, stderr=exc.stderr)
                task.update(start=start, end=clock.now())
                continue
            except Exception as exc:  # noqa: BLE001 - the task's failure
                task.update(
                    state="completed",
                    result="failure",
                    message=str(exc),
                    start=start,
                    end=clock.now(),
                )
                continue
            task.update(start=start, end=clock.now(), stdout=stdout, stderr=stderr)
            for offset, output in enumerate(encoded):
                self.output_path(task["first"] + offset).parent.mkdir(parents=True, exist_ok=True)
                self.output_path(task["first"] + offset).write_bytes(output)
            task.update(state="completed", result="success")
        self._save(data)

    def _run_task(self, points: list[dict]) -> tuple[list[bytes], str, str]:
        """Each point's encoded output, and what the task wrote to stdout and stderr."""
        words = shlex.split(self.record.command)
        if words[0] in WORKERS:
            codec = get_codec(self.record.format)
            function = WORKERS[words[0]]
            return [codec.dumps(function(p, self.record.spec.globals)) for p in points], "", ""
        if words[0] != "python" or len(words) != 2:
            raise UserError(f"the fake backend runs `python SCRIPT` only, not {words!r}")
        env = {**resolve_env(self.record.spec.worker), "SUPERBATCH_JOB_ID": self.state.job_id}
        encoded, stdout, stderr = [], "", ""
        for point in points:
            try:
                output, out, err = run_script(words[1], point, self.record, env)
            except ScriptFailed as exc:
                exc.stdout, exc.stderr = stdout + exc.stdout, stderr + exc.stderr
                raise
            encoded.append(output)
            stdout, stderr = stdout + out, stderr + err
        return encoded, stdout, stderr

    def status(self, with_failures: bool = True) -> JobStatus:
        tasks = self._load()["tasks"]
        st = JobStatus(self.state.job_id, self.record.task_count)
        for task_id, task in sorted(tasks.items()):
            if task["state"] == "active":
                st.active += 1
            elif task["state"] == "running":
                st.running += 1
            elif task["result"] == "success":
                st.succeeded += 1
            else:
                st.failed += 1
                if with_failures:
                    st.failures.append(
                        TaskFailure(
                            task_id,
                            task.get("exit_code", 1),
                            task.get("code", "NonZeroExitCode"),
                            task["message"],
                            task.get("stderr", task["message"])[-400:],
                        )
                    )
        st.missing = self.record.task_count - len(tasks)
        if self.state.read_progress().job_state == "terminated":
            st.job_state = "terminated"
        elif st.completed == st.total:
            st.job_state = "completed"
        return st

    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        self.start(True, progress)
        return self.status()

    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> list[str]:
        return []

    def logs(self, task_id: str) -> TaskLogs:
        task = self._load()["tasks"].get(task_id)
        if task is None:
            raise UserError(f"no task {task_id!r}; `superbatch status` lists them.")
        return TaskLogs(
            task_id, task.get("stdout", ""), task.get("stderr", task.get("message", ""))
        )

    def read_log(self, task_id: str, name: str, offset: int) -> LogChunk:
        task = self._load()["tasks"].get(task_id, {"state": "active"})
        text = (
            task.get("stderr", task.get("message", ""))
            if name == "stderr.txt"
            else task.get("stdout", "")
        )
        return LogChunk(text.encode()[offset:], task["state"] != "completed")

    def task_runs(self) -> list[TaskRun]:
        return [
            TaskRun(
                t,
                "fake-node",
                v["start"],
                v["end"],
                v["result"],
                0 if v["result"] == "success" else v.get("exit_code", 1),
            )
            for t, v in sorted(self._load()["tasks"].items())
            if v["state"] == "completed"
        ]

    def retry(self, task_ids: list[str] | None) -> list[str]:
        data = self._load()
        tasks = data["tasks"]
        failed = {
            t for t, v in tasks.items() if v["state"] == "completed" and v["result"] == "failure"
        }
        unfinished = (
            {t for t, v in tasks.items() if v["state"] == "active"}
            if self.state.read_progress().job_state == "terminated"
            else set()
        )
        chosen = pick_retries(self.state.job_id, task_ids, failed | unfinished)
        for task_id in chosen:
            tasks[task_id]["state"] = "active"
        self._save(data)
        if chosen:
            self.state.update_progress(job_state="active")
            self.start(False, Progress(enabled=False))
        return chosen

    def cancel(self) -> None:
        """Running tasks end as failed (as on the real backends); queued ones stay queued."""
        data = self._load()
        for task in data["tasks"].values():
            if task["state"] == "running":
                message = "the task was ended by `superbatch cancel`"
                task.update(state="completed", result="failure", code="TaskEnded")
                task.update(message=message, exit_code=None, end=clock.now())
        self._save(data)
        self.state.update_progress(job_state="terminated")

    def delete(self, include_pool: bool) -> list[str]:
        return ["fake service job"]
