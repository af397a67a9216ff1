"""The local executor: runs a job's tasks as processes, like a small compute node.

One runner per job at a time (an exclusive lock on ``runner.lock``). Every task state change
is appended to the job's journal, so an interrupted runner (Ctrl-C, SIGTERM, SIGKILL) leaves
consistent state and a new runner executes only what has not completed. Each task runs in a
task runner (``superbatch.taskrunner``), which runs the task's points and supervises them:
under isolation ``point`` and ``task`` each thread's warm one (``warm``) serves task after
task, else one is started per task (``points``). Each task holds a lock (``tasks/<id>/running.lock``),
shared with the task runner while it runs the task, never with the worker's processes: a
new runner that finds it held ends the task runner recorded in it, and so the leftover
workers, before it starts the task again, so a point never runs twice at once. A runner that
cannot go on (damaged state, a full disk) writes ``runner-error.json`` and exits with status
3; whoever waits reports that message.

One module (a little over 400 lines) because the job lock, task locks, journal, retries and
worker processes are one protocol; what is separable lives beside it (runnerproc, nanny,
points, warm, attempts).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from superbatch.backends.local.attempts import Attempt, last_failure
from superbatch.backends.local.nanny import Nanny, kill_group
from superbatch.backends.local.points import TaskProcess, end_holder, manifest_base
from superbatch.backends.local.runnerproc import ERROR_FILE, LOCK_FILE, PID_FILE, STARTING_FILE
from superbatch.backends.local.taskenv import task_env
from superbatch.backends.local.warm import Slot, Slots, WarmTaskRunner
from superbatch.contract.names import FileNames, file_names
from superbatch.jobs.codestore import snapshot_dir
from superbatch.jobs.state import JobState
from superbatch.plan.chunks import Chunking, TaskPlan
from superbatch.util.bars import SILENT, Progress
from superbatch.util.files import atomic_write_bytes, atomic_write_json, describe_os_error
from superbatch.util.signalflag import StopFlag

TASK_LOCK = "running.lock"
POINTS_FILE = "points.jsonl"  # the task runner's line per point
SHARED_CONFIG = "shared"
EXIT_RUNNER_ERROR = 3
# Python workers are forked from a task runner that has imported what they import, on Linux:
# on macOS forking a process that has loaded system frameworks is unsafe (CPython's
# multiprocessing stopped forking there).
FORK_SUPPORTED = sys.platform.startswith("linux")
# The task runner enforces the wall time itself; past it by this much it is killed (a point
# running inside it that does not return to the interpreter cannot be interrupted).
WALL_TIME_GRACE_S = 5.0
# A task whose task runner is killed (not by this runner) runs again, as a point whose fork
# server died did; after this many losses in a row it fails as killed.
MAX_LOSSES = 3


class RunnerError(Exception):
    """The runner cannot make progress (not a task's failure)."""


class Runner:
    """Executes the job's unfinished tasks with bounded parallelism."""

    def __init__(
        self,
        state: JobState,
        parallel: int | None = None,
        progress: Progress = SILENT,
        ready: Slots | None = None,  # slots prepared for it elsewhere (gate.py)
    ):
        self.state = state
        record = state.read_record()
        self.record = record
        self.command = record.command
        self.max_retries = record.max_retries
        self.wall_time = record.max_wall_time_s
        self.parallel = max(1, parallel or record.parallel or os.cpu_count() or 1)
        self.names: FileNames = file_names(record.format)
        self.chunks = Chunking(record.point_count, record.points_per_task)
        self.progress = progress
        self._stopping = StopFlag()  # stop() runs in a signal handler: util/signalflag.py
        self._points: set = set()  # what is running: each has end()
        self._lock = threading.RLock()
        self._shared_lock = threading.Lock()
        self._shared_ready = False
        self._nanny: Nanny | None = None
        self.env = task_env(state.job_id, record.spec.worker, self.parallel)
        self.how = manifest_base(record, state, self.env["PATH"], FORK_SUPPORTED)
        # One task runner serves a slot's tasks: forked points leave nothing behind in it,
        # and isolation task promises only a reused process, as joblib's workers are.
        self.warm = self.how["isolation"] in ("point", "task") and TaskProcess.supervised
        self.ready = ready or Slots(self.env, state.dir)  # slots whose task runners started

    def prepare(self) -> None:
        """Start the slots' warm task runners now and have them prepare (import the worker's
        modules) while the job's inputs are written; ``run`` then uses them."""
        ahead = self.ahead()
        if ahead is not None:
            self.ready.prepare(*ahead)

    def ahead(self) -> tuple[dict, int] | None:
        """What warm task runners prepare with, and how many: None if none are used."""
        if not self.warm:
            return None
        ahead = dict(self.how, config=str(self._shared_config()), task_dir=str(self.state.dir))
        return ahead, min(self.parallel, self.chunks.task_count)

    # -- the task list -------------------------------------------------------------------

    def pending(self) -> list[int]:
        """Indices of tasks that have not completed (never run, interrupted or requeued)."""
        journal = self.state.read_journal()
        return [
            i
            for i in range(self.chunks.task_count)
            if journal.get(self.chunks.task_id(i), {}).get("state") != "completed"
        ]

    def _cancelled(self) -> bool:
        return self.state.read_progress().job_state == "terminated"

    # -- running -------------------------------------------------------------------------

    def run(self) -> bool:
        """Run until no task is pending. False if another runner holds the job.

        Raises RunnerError (after writing ``runner-error.json``) when it cannot go on.
        """
        self.state.dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.state.dir / LOCK_FILE
        if lock_path.is_dir():
            self._fail(f"{lock_path} is a directory, not the runner's lock file; remove it.")
        lock = lock_path.open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            self.ready.close()
            return False
        try:
            with contextlib.suppress(FileNotFoundError):
                (self.state.dir / ERROR_FILE).unlink()
            # Whole or absent, never empty: `cancel` reads it to stop this runner.
            atomic_write_bytes(self.state.dir / PID_FILE, str(os.getpid()).encode())
            with contextlib.suppress(FileNotFoundError):
                (self.state.dir / STARTING_FILE).unlink()  # started: the lock says it now
            self._check_code()
            if not TaskProcess.supervised:
                self._nanny = Nanny()
            try:
                self._loop()
            except RunnerError:
                raise
            except OSError as exc:
                self._fail(_os_error_message(exc, self.state))
        finally:
            self.kill_all()
            self.ready.close()
            if self._nanny:
                self._nanny.close()
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
        return True

    def _check_code(self) -> None:
        """The job's snapshot of the worker's files (codestore.py) must still be there."""
        if self.record.code is None:
            return  # submitted by an older superbatch: it runs the worker's directory
        kept = snapshot_dir(self.state.root, self.record.code)
        if not kept.is_dir():
            self._fail(
                f"{kept}, the copy of the worker's files job {self.state.job_id} was "
                f"submitted with, is missing (removed outside superbatch); submit the spec "
                f"again with --new."
            )

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if self._cancelled():
                return
            todo = self.pending()
            if not todo:
                return
            self._run_all(todo)

    def _fail(self, message: str) -> None:
        with contextlib.suppress(OSError):
            atomic_write_json(
                self.state.dir / ERROR_FILE, {"message": message, "time": time.time()}
            )
        raise RunnerError(message)

    def _run_all(self, todo: list[int]) -> None:
        queue = iter(todo)
        queue_lock = threading.Lock()
        errors: list[BaseException] = []

        def work(bar) -> None:
            slot = self.ready.take() if self.warm else None
            try:
                while not self._stopping.is_set():
                    with queue_lock:
                        index = next(queue, None)
                    if index is None:
                        return
                    if self.run_task(self.chunks.task(index), slot):
                        bar.advance()
            except BaseException as exc:  # noqa: BLE001 - surfaced after the threads stop
                errors.append(exc)
                self._stopping.set()
            finally:
                if slot is not None:
                    slot.close()

        with self.progress.bar("running tasks", len(todo)) as bar:
            threads = [
                threading.Thread(target=work, args=(bar,), daemon=True)
                for _ in range(min(self.parallel, len(todo)))
            ]
            for t in threads:
                t.start()
            try:
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
            except BaseException:
                self._stopping.set()
                self.kill_all()
                raise
        if errors:
            raise errors[0]

    def run_task(self, task: TaskPlan, slot: Slot | None = None) -> bool:
        """Run one task with retries (in ``slot``'s warm task runner, if given); journal
        the outcome. False if interrupted."""
        task_dir = self.state.task_dir(task.id)
        task_lock = self._claim(task.id, task_dir)
        try:
            self.state.append_journal([{"task": task.id, "state": "running", "t": time.time()}])
            retries = losses = 0
            started = time.time()
            while True:
                attempt = self._attempt(task, task_dir, task_lock, slot)
                if attempt is not None and attempt.lost and losses < MAX_LOSSES:
                    losses += 1  # its task runner was killed: not the worker's failure
                    continue
                if attempt is None:  # interrupted
                    if not self._cancelled():
                        return False  # stays unfinished: a later runner runs it again
                    attempt = Attempt(
                        False, None, "TaskEnded", "the task was ended by `superbatch cancel`"
                    )
                    break
                if attempt.ok or not self._retried(attempt, retries):
                    break
                retries += 1
            self.state.append_journal(
                [
                    {
                        "task": task.id,
                        "state": "completed",
                        "result": "success" if attempt.ok else "failure",
                        "exit_code": attempt.exit_code,
                        "retries": retries,
                        "code": attempt.code,
                        "message": attempt.message,
                        "point": attempt.point,
                        "start": started,
                        "end": time.time(),
                    }
                ]
            )
            return True
        finally:
            os.close(task_lock)

    def _retried(self, attempt: Attempt, retries: int) -> bool:
        """As the service: a nonzero exit is retried within ``max_retries``; a task past its
        wall time, terminated by the service, is not (maxTaskRetryCount's definition)."""
        if attempt.code == "MaxWallClockTimeExceeded":
            return False
        return self.max_retries == -1 or retries < self.max_retries

    def _claim(self, task_id: str, task_dir: Path) -> int:
        """Lock the task; end the point an earlier (killed) runner left running it."""
        task_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(task_dir / TASK_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        try:
            holder = int(os.pread(fd, 32, 0).decode().strip() or 0)
        except ValueError:
            holder = 0
        if holder > 0:
            end_holder(holder)
        started = time.monotonic()
        forced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                waited = time.monotonic() - started
                if holder > 0 and not forced and waited > 10:
                    kill_group(holder)  # a supervisor that did not end when asked
                    forced = True
                if waited > 30:
                    os.close(fd)
                    self._fail(
                        f"task {task_id} is still being run by processes of an "
                        f"earlier runner (process {holder}) that did not end."
                    )
                time.sleep(0.05)

    def _shared_config(self) -> Path:
        """One read-only copy of the global config that every point's directory links to.

        Made once, under a lock: replacing it while another thread links it would make
        ``link()`` fail with ENOENT (the replaced inode has no links left).
        """
        shared = self.state.tasks_dir / SHARED_CONFIG / self.names.config
        with self._shared_lock:
            if self._shared_ready:
                return shared
            source = self.state.inputs_dir / self.names.config
            if not source.exists():
                self._fail(
                    f"{source} is missing: the job's state was changed outside "
                    f"superbatch; submit the spec again with --new."
                )
            shared.parent.mkdir(parents=True, exist_ok=True)
            tmp = shared.with_name(f".{shared.name}.{os.getpid()}")
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, shared)
            self._shared_ready = True
        return shared

    def _attempt(
        self, task: TaskPlan, task_dir: Path, task_lock: int, slot: Slot | None
    ) -> Attempt | None:
        inputs = self.state.inputs_dir / f"{task.id}.tar"
        if not inputs.is_file():
            self._fail(
                f"{inputs} is missing: the job's state was changed outside superbatch; "
                f"submit the spec again with --new."
            )
        manifest = dict(
            self.how,
            task_id=task.id,
            points=[task.first_point, task.point_count],
            inputs=str(inputs),
            config=str(self._shared_config()),
            task_dir=str(task_dir),
        )
        points_log = task_dir / POINTS_FILE
        proc: TaskProcess | WarmTaskRunner
        with (
            (task_dir / "stdout.txt").open("wb") as out,
            (task_dir / "stderr.txt").open("wb") as err,
        ):
            points_log.write_bytes(b"")
            if self._stopping.is_set():
                return None
            if slot is not None:
                proc = slot.start(manifest, out, err, task_lock)
            else:
                proc = TaskProcess(manifest, task_dir, self.env, out, err, task_lock)
        # Whom a later runner ends if this one dies and leaves the task locked.
        os.pwrite(task_lock, f"{proc.holder:<31d}".encode(), 0)
        with self._lock:
            self._points.add(proc)
        if self._stopping.is_set():
            proc.end()  # stopped while it started: kill_all did not see it
        if self._nanny:
            self._nanny.watch(proc.pid)
        try:
            timeout = None if self.wall_time is None else self.wall_time + WALL_TIME_GRACE_S
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.end()
                proc.wait()
                return self._out_of_time(None)
        finally:
            with self._lock:
                self._points.discard(proc)
            if self._nanny:
                self._nanny.release(proc.pid)
        if code == 0:
            return Attempt(True, 0)
        failed = last_failure(points_log)
        if failed is not None:
            return Attempt(
                False, failed["exit_code"], failed["code"], failed["message"], failed["point"]
            )
        if self._stopping.is_set() and code < 0:
            return None  # killed because the runner is stopping
        return Attempt(
            False,
            code,
            "NonZeroExitCode" if code > 0 else "Killed",
            f"the task runner exited with code {code}",
            lost=code < 0,
        )

    def _out_of_time(self, point: int | None) -> Attempt:
        return Attempt(
            False,
            None,
            "MaxWallClockTimeExceeded",
            f"the task ran longer than its max_wall_time ({self.wall_time:g} s) and was terminated",
            point,
        )

    def stop(self) -> None:
        self._stopping.set()
        self.kill_all()

    def kill_all(self) -> None:
        with self._lock:
            points = list(self._points)
        for point in points:
            point.end()


def _os_error_message(exc: OSError, state: JobState) -> str:
    what = describe_os_error(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the local runner of job {state.job_id} stopped: {what}. Free some space, "
            f"then run the same command again to resume."
        )
    return f"the local runner of job {state.job_id} stopped: {what}."
