"""The local backend: tasks run as processes on this machine, with the same file contract."""
from __future__ import annotations

import time
from collections.abc import Iterable

from superbatch.backends.base import Backend, JobStatus, TaskFailure, TaskLogs
from superbatch.backends.local_runner import Runner, runner_alive, start_detached, stop_runner
from superbatch.codec import get_codec
from superbatch.contract import file_names
from superbatch.errors import UserError
from superbatch.progress import Progress
from superbatch.state import atomic_write_bytes

POLL_SECONDS = 0.2
STDERR_TAIL = 400


def tail(text: str, limit: int = STDERR_TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class LocalBackend(Backend):
    name = "local"

    # -- submit ----------------------------------------------------------------------------

    def submit(self, plan, progress: Progress) -> None:
        """Write the global config and one inputs file per point into the state directory."""
        codec = get_codec(self.manifest["format"])
        names = file_names(self.manifest["format"])
        inputs = self.state.inputs_dir
        inputs.mkdir(parents=True, exist_ok=True)
        config = inputs / names.config
        if not config.exists():
            atomic_write_bytes(config, codec.dumps(plan.spec.model.globals))
        existing = {p.name for p in inputs.iterdir()}
        with progress.bar("writing inputs", plan.point_count) as bar:
            for index, point in enumerate(plan.grid.points()):
                name = names.local_inputs(index)
                if name not in existing:
                    atomic_write_bytes(inputs / name, codec.dumps(point))
                bar.advance()

    def start(self, foreground: bool, parallel: int | None, progress: Progress) -> None:
        """Run the pending tasks: here and now (foreground) or in a detached runner."""
        if foreground:
            runner = Runner(self.state, parallel, progress)
            try:
                if not runner.run():
                    self.wait(None, progress)  # a background runner has the job: follow it
            except KeyboardInterrupt:
                runner.stop()
                raise
        elif not runner_alive(self.state):
            start_detached(self.state, parallel)

    # -- observe ---------------------------------------------------------------------------

    def status(self, with_failures: bool = True) -> JobStatus:
        total = self.manifest["task_count"]
        status = JobStatus(self.state.job_id, total)
        alive = runner_alive(self.state)
        for task_id, entry in self.state.read_journal().items():
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
        manifest = self.state.read_manifest()
        if manifest.get("job_state") == "terminated":
            status.job_state = "terminated"
        elif status.completed >= total:
            status.job_state = "completed"
        status.failures.sort(key=lambda f: f.task_id)
        return status

    def _failure(self, task_id: str, entry: dict) -> TaskFailure:
        try:
            stderr = (self.state.task_dir(task_id) / "stderr.txt").read_text(errors="replace")
        except OSError:
            stderr = ""
        return TaskFailure(task_id, entry.get("exit_code"), entry.get("code"),
                           entry.get("message"), tail(stderr) or None)

    def wait(self, timeout: float | None, progress: Progress) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        status = self.status(with_failures=False)
        with progress.bar("waiting for tasks", status.total) as bar:
            while not status.done:
                if not runner_alive(self.state):
                    # Nobody is running the job (e.g. the runner was killed): resume it.
                    start_detached(self.state, self.manifest["local"].get("parallel"))
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(POLL_SECONDS)
                status = self.status(with_failures=False)
                bar.update(status.completed)
        return self.status()

    def fetch_outputs(self, point_indices: Iterable[int], progress: Progress) -> None:
        """Nothing to fetch: the runner moves outputs into the state directory itself."""

    def logs(self, task_id: str) -> TaskLogs:
        task_dir = self.state.task_dir(task_id)
        if not task_dir.is_dir():
            raise UserError(f"task {task_id!r} of job {self.state.job_id} has not run (yet); "
                            f"`superbatch status` lists the job's tasks.")
        read = lambda name: (task_dir / name).read_text(errors="replace") if (  # noqa: E731
            task_dir / name).exists() else ""
        return TaskLogs(task_id, read("stdout.txt"), read("stderr.txt"))

    # -- control ---------------------------------------------------------------------------

    def retry(self, task_ids: list[str]) -> list[str]:
        journal = self.state.read_journal()
        requeue = [t for t in task_ids if journal.get(t, {}).get("state") == "completed"
                   and journal[t].get("result") != "success"]
        self.state.append_journal([{"task": t, "state": "active", "t": time.time()}
                                   for t in requeue])
        return requeue

    def cancel(self) -> None:
        self.state.update_manifest(job_state="terminated")
        stop_runner(self.state)

    def delete(self, include_pool: bool) -> list[str]:
        stop_runner(self.state)
        return []
