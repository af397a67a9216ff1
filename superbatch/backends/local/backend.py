"""The local backend: tasks run as processes on this machine, with the same file contract."""

from __future__ import annotations

import itertools
import os
import shlex
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from superbatch.backends.base import Backend, JobStatus, TaskFailure, pick_retries
from superbatch.backends.local.runnerproc import (
    LOG_FILE,
    read_runner_error,
    runner_alive,
    start_detached,
    stop_runner,
)
from superbatch.contract.codec import get_codec
from superbatch.errors import InfraError, SpecError, UserError
from superbatch.plan.chunks import Chunking, JobPlan
from superbatch.util.bars import Progress
from superbatch.util.files import atomic_write_bytes

if TYPE_CHECKING:
    from superbatch.backends.local.gate import Gate
    from superbatch.backends.local.runner import Runner
    from superbatch.backends.reports import LogChunk, TaskLogs, TaskRun
    from superbatch.jobs.codestore import KeptCode
    from superbatch.plan.identity import Identity
    from superbatch.spec.load import Spec

POLL_SECONDS = 0.2
# A short job is looked at more often (its end is noticed sooner): every FIRST_POLL_SECONDS
# at first, the interval growing with the time waited up to POLL_SECONDS.
FIRST_POLL_SECONDS = 0.01
STDERR_TAIL = 400
# A detached runner that dies this many times in a row without completing a task is
# not restarted again: its error is reported instead (exit 3).
MAX_FRUITLESS_RESTARTS = 3


def tail(text: str, limit: int = STDERR_TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class LocalBackend(Backend):
    name = "local"
    status_is_local = True
    _runner: Runner | None = None  # made by prepare_to_run, for start(foreground=True)
    _gate: Gate | None = None  # started by prepare_to_run, for start(foreground=False)

    @classmethod
    def check_spec(cls, spec: Spec) -> None:
        directory = spec.worker_directory
        if not directory.is_dir():
            raise SpecError(
                f"{spec.where('worker', 'directory')}: worker.directory: "
                f"{directory} does not exist (it is relative to the spec)."
            )

    @classmethod
    def worker_dir(cls, spec: Spec) -> str:
        return shlex.quote(str(spec.worker_directory))

    @classmethod
    def keep_code(cls, spec: Spec, state_root: Path, identity: Identity) -> KeptCode | None:
        """Tasks run a snapshot of the worker's files taken now (codestore.py)."""
        from superbatch.jobs import codestore
        from superbatch.jobs.state import superbatch_files
        from superbatch.plan.identity import not_the_workers
        from superbatch.spec.workerfiles import worker_files

        files = list(
            worker_files(spec.worker_directory, not_the_workers(spec, superbatch_files(state_root)))
        )
        return codestore.keep(files, state_root, identity.parts.get("worker_files", ""))

    @classmethod
    def slots(cls, spec: Spec, parallel: int | None) -> int:
        return parallel or os.cpu_count() or 1

    @classmethod
    def auto_tasks(cls, spec: Spec, parallel: int | None) -> int:
        """8 a slot: here a task costs a task runner's start (an interpreter importing what
        the worker imports), and a killed job resumes task by task anyway."""
        from superbatch.plan.chunks import AUTO_TASKS_PER_SLOT

        return AUTO_TASKS_PER_SLOT * cls.slots(spec, parallel)

    # -- submit ----------------------------------------------------------------------------

    def prepare_to_run(self, foreground: bool, progress: Progress) -> None:
        """``submit`` then starts the runner's warm task runners once the config is written,
        so that they import the worker's modules while it writes the inputs: this process's
        (foreground), or a detached runner's, started now and held at a gate until then."""
        from superbatch.backends.local.runner import Runner

        self._runner = Runner(self.state, self.record.parallel, progress)
        if not foreground and not runner_alive(self.state):
            from superbatch.backends.local.gate import Gate

            self._gate = Gate(self.state, self.record.parallel)

    def submit(self, plan: JobPlan, progress: Progress) -> list[str]:
        try:
            return self._submit(plan, progress)
        except BaseException:
            if self._runner is not None:
                self._runner.ready.close()
            if self._gate is not None:
                self._gate.close()  # the detached runner exits, running nothing
            raise

    def _submit(self, plan: JobPlan, progress: Progress) -> list[str]:
        """Write the global config and one tar of its points' inputs per task into the state
        directory (``inputs/<task-id>.tar``: a 10,000-point task is one file, not 10,000),
        gzip-compressed (a ustar's 1 KB of headers a point shrinks to a few bytes)."""
        import gzip

        from superbatch.contract.names import file_names, inputs_tar

        codec = get_codec(self.record.format)
        names = file_names(self.record.format)
        inputs = self.state.inputs_dir
        inputs.mkdir(parents=True, exist_ok=True)
        config = inputs / names.config
        if not config.exists():
            atomic_write_bytes(config, codec.dumps(self.record.spec.globals))
        if self._runner is not None and self._gate is not None:  # the detached runner's
            ahead = self._runner.ahead()
            if ahead is not None:
                self._gate.prepare(self._runner.env, *ahead)
        elif self._runner is not None:  # this process's, which runs the job
            self._runner.prepare()
        existing = {p.name for p in inputs.iterdir()}
        count = 0
        with progress.bar("writing inputs", plan.point_count) as bar:
            grid = plan.grid.points()
            for task in plan.tasks():
                points = list(itertools.islice(grid, task.point_count))
                count += len(points)
                if len(points) < task.point_count:
                    break
                name = f"{task.id}.tar"
                if name not in existing:
                    encoded = [codec.dumps(point) for point in points]
                    tar = inputs_tar(task.point_indices, encoded, names.inputs)
                    atomic_write_bytes(inputs / name, gzip.compress(tar, 1, mtime=0))
                bar.advance(len(points))
            count += sum(1 for _ in grid)
        if count != plan.point_count:
            raise UserError(
                f"the grid gave {count} points while submitting, not the "
                f"{plan.point_count} counted before: was the points file changed "
                f"during the submit? Submit again."
            )
        return []

    def start(self, foreground: bool, progress: Progress) -> None:
        """Run the pending tasks: here and now (foreground) or in a detached runner."""
        if not foreground:
            if self._gate is not None:
                self._gate.go()
            elif not runner_alive(self.state):
                start_detached(self.state, self.record.parallel)
            return
        # Imported here: status, logs and collect never run tasks in this process.
        from superbatch.backends.local.runner import Runner, RunnerError

        runner = self._runner or Runner(self.state, self.record.parallel, progress)
        try:
            if not runner.run():
                self.wait(None, progress)  # a background runner has the job: follow it
        except RunnerError as exc:
            raise InfraError(str(exc)) from None
        except KeyboardInterrupt:
            runner.stop()
            raise

    # -- observe ---------------------------------------------------------------------------

    def status(self, with_failures: bool = True) -> JobStatus:
        total = self.record.task_count
        status = JobStatus(self.state.job_id, total)
        alive = runner_alive(self.state)
        journal = self.state.read_journal()
        for task_id, entry in journal.items():
            state = entry.get("state")
            if state == "completed":
                if entry.get("result") == "success":
                    status.succeeded += 1
                else:
                    status.failed += 1
                    if with_failures:
                        status.failures.append(self._failure(task_id, entry))
            elif state == "running" and alive:
                status.running += 1
        status.active = total - status.running - status.completed
        if self.state.read_progress().job_state == "terminated":
            status.job_state = "terminated"
        elif status.completed >= total:
            status.job_state = "completed"
        elif not alive and status.active:
            error = read_runner_error(self.state)
            status.notes.append(
                f"no runner is working on this job: {error['message']}"
                if error
                else "no runner is working on this job (interrupted?): `superbatch collect --wait` "
                "or `superbatch run` resumes it"
            )
        status.failures.sort(key=lambda f: f.task_id)
        return status

    def _failure(self, task_id: str, entry: dict) -> TaskFailure:
        try:
            stderr = (self.state.task_dir(task_id) / "stderr.txt").read_text(errors="replace")
        except OSError:
            stderr = ""
        return TaskFailure(
            task_id,
            entry.get("exit_code"),
            entry.get("code"),
            entry.get("message"),
            tail(stderr) or None,
            point=entry.get("point"),
        )

    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        status = self.status(with_failures=False)
        restarts, completed_at_restart = 0, status.completed
        with progress.bar("waiting for tasks", status.total, status.completed) as bar:
            while not status.done:
                if not runner_alive(self.state):
                    # Nobody is running the job (e.g. the runner was killed): resume it,
                    # unless restarting has stopped helping.
                    if status.completed > completed_at_restart:
                        restarts, completed_at_restart = 0, status.completed
                    if restarts >= MAX_FRUITLESS_RESTARTS:
                        raise InfraError(self._runner_failure(restarts))
                    restarts += 1
                    runner = start_detached(self.state, self.record.parallel)
                    # A new interpreter takes a while to start on a busy machine: the runner
                    # has failed only if it ends without ever holding the job's lock.
                    while runner.poll() is None and not runner_alive(self.state):
                        if deadline is not None and time.monotonic() >= deadline:
                            break
                        time.sleep(POLL_SECONDS)
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                time.sleep(min(POLL_SECONDS, max(FIRST_POLL_SECONDS, (now - began) / 10)))
                status = self.status(with_failures=False)
                bar.update(status.completed)
        return self.status()

    def _runner_failure(self, restarts: int) -> str:
        error = read_runner_error(self.state)
        if error:
            return error["message"]
        try:
            log = (self.state.dir / LOG_FILE).read_text(errors="replace").strip()
        except OSError:
            log = ""
        detail = f" Its log ends: {tail(log, 600)}" if log else ""
        return (
            f"the local runner of job {self.state.job_id} stopped {restarts} times "
            f"without completing a task; see {self.state.dir / LOG_FILE}.{detail}"
        )

    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> list[str]:
        """Nothing to fetch: the runner moves outputs into the state directory itself."""
        return []

    def logs(self, task_id: str) -> TaskLogs:
        from superbatch.backends.reports import TaskLogs

        task_dir = self.state.task_dir(task_id)
        if not task_dir.is_dir():
            raise UserError(
                f"task {task_id!r} of job {self.state.job_id} has not run (yet); "
                f"`superbatch status` lists the job's tasks."
            )

        def read(name: str) -> str:
            path = task_dir / name
            return path.read_text(errors="replace") if path.exists() else ""

        return TaskLogs(task_id, read("stdout.txt"), read("stderr.txt"))

    def read_log(self, task_id: str, name: str, offset: int) -> LogChunk:
        from superbatch.backends.reports import LogChunk

        # Whether it may still write is read first: a task that completes meanwhile has
        # then written all it ever will before the bytes are read.
        entry = self.state.read_journal().get(task_id, {})
        running = (
            entry.get("state") != "completed"
            and self.state.read_progress().job_state != "terminated"
            and runner_alive(self.state)
        )
        try:
            with (self.state.task_dir(task_id) / name).open("rb") as handle:
                restarted = os.fstat(handle.fileno()).st_size < offset  # a new attempt
                handle.seek(0 if restarted else offset)
                return LogChunk(handle.read(), running, restarted)
        except FileNotFoundError:
            return LogChunk(b"", running)

    def task_runs(self) -> list[TaskRun]:
        from superbatch.backends.reports import TaskRun

        alive = runner_alive(self.state)
        runs = []
        for task_id, entry in sorted(self.state.read_journal().items()):
            state = entry.get("state")
            if state == "completed":
                result = "success" if entry.get("result") == "success" else "failure"
                runs.append(
                    TaskRun(
                        task_id,
                        "local",
                        entry.get("start"),
                        entry.get("end"),
                        result,
                        entry.get("exit_code"),
                        entry.get("retries") or 0,
                    )
                )
            elif state == "running" and alive:
                runs.append(TaskRun(task_id, "local", entry.get("t"), None, "running"))
        return runs

    # -- control ---------------------------------------------------------------------------

    def retry(self, task_ids: list[str] | None) -> list[str]:
        """Requeue failed tasks and, after a cancel, the unfinished ones; start a runner."""
        journal = self.state.read_journal()
        failed = {
            t
            for t, e in journal.items()
            if e.get("state") == "completed" and e.get("result") != "success"
        }
        unfinished: set[str] = set()
        if self.state.read_progress().job_state == "terminated":
            chunks = Chunking(self.record.point_count, self.record.points_per_task)
            unfinished = {
                t for t in chunks.task_ids() if journal.get(t, {}).get("state") != "completed"
            }
        requeue = pick_retries(self.state.job_id, task_ids, failed | unfinished)
        self.state.append_journal(
            [{"task": t, "state": "active", "t": time.time()} for t in requeue if t in failed]
        )
        if requeue:
            self.state.update_progress(job_state="active", finished_at=None)
            self.start(foreground=False, progress=Progress(enabled=False))
        return requeue

    def cancel(self) -> None:
        self.state.update_progress(job_state="terminated", finished_at=time.time())
        stop_runner(self.state)

    def delete(self, include_pool: bool) -> list[str]:
        stop_runner(self.state)
        return []
