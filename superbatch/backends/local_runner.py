"""The local executor: runs a job's tasks as subprocesses, like a small compute node.

One runner per job at a time (an exclusive lock on ``runner.lock``). Every task state change
is appended to the job's journal, so a runner that is interrupted (Ctrl-C, SIGTERM, SIGKILL)
leaves consistent state: a re-run executes only the tasks that have not completed.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from superbatch.contract import file_names
from superbatch.progress import SILENT, Progress
from superbatch.state import JobState

LOCK_FILE = "runner.lock"
PID_FILE = "runner.pid"
# Thread-pool sizes of the common native libraries (OpenMP, OpenBLAS, MKL, ...). With several
# workers at once, each gets its share of the CPUs, as joblib's loky workers do; otherwise
# every numpy import spawns a thread per CPU and the workers oversubscribe the machine
# (measured: ~35% more CPU per seed-worker run with 2 at once on 2 CPUs). A value the user
# set wins.
THREAD_LIMIT_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def runner_alive(state: JobState) -> bool:
    """Whether a runner holds this job's lock right now."""
    path = state.dir / LOCK_FILE
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def start_detached(state: JobState, parallel: int | None = None) -> None:
    """Start a runner for the job in the background (it outlives this process)."""
    cmd = [sys.executable, "-m", "superbatch.backends.local_runner", str(state.dir)]
    if parallel:
        cmd += ["--parallel", str(parallel)]
    log = (state.dir / "runner.log").open("ab")
    subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True, close_fds=True)
    log.close()


def stop_runner(state: JobState, timeout: float = 10.0) -> None:
    """Ask a running runner to stop (SIGTERM) and wait until it has released the lock."""
    try:
        pid = int((state.dir / PID_FILE).read_text())
    except (OSError, ValueError):
        return
    if not runner_alive(state):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while runner_alive(state) and time.monotonic() < deadline:
        time.sleep(0.05)


@dataclass
class Attempt:
    ok: bool
    exit_code: int | None
    code: str | None = None
    message: str | None = None


class Runner:
    """Executes the job's unfinished tasks with bounded parallelism."""

    def __init__(self, state: JobState, parallel: int | None = None, progress: Progress = SILENT):
        self.state = state
        self.manifest = state.read_manifest()
        run = self.manifest["local"]
        self.command: str = run["command"]
        self.max_retries: int = self.manifest["max_retries"]
        self.wall_time: float | None = self.manifest.get("max_wall_time_s")
        self.parallel = max(1, parallel or run.get("parallel") or os.cpu_count() or 1)
        self.names = file_names(self.manifest["format"])
        self.ppt: int = self.manifest["points_per_task"]
        self.point_count: int = self.manifest["point_count"]
        self.task_count: int = self.manifest["task_count"]
        self.width: int = self.manifest["task_id_width"]
        self.progress = progress
        self._stopping = threading.Event()
        self._procs: dict[int, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self.env = dict(os.environ)
        # `python` in a worker command means the interpreter superbatch runs under.
        self.env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + self.env.get("PATH", "")
        self.env["SUPERBATCH_JOB_ID"] = state.job_id
        if self.parallel > 1:
            share = str(max(1, (os.cpu_count() or 1) // self.parallel))
            for var in THREAD_LIMIT_VARS:
                self.env.setdefault(var, share)

    # -- the task list -------------------------------------------------------------------

    def task_id(self, index: int) -> str:
        return f"task-{index:0{self.width}d}"

    def pending(self) -> list[int]:
        """Indices of tasks that have not completed (never run, interrupted or requeued)."""
        journal = self.state.read_journal()
        return [i for i in range(self.task_count)
                if journal.get(self.task_id(i), {}).get("state") != "completed"]

    # -- running -------------------------------------------------------------------------

    def run(self) -> bool:
        """Run until no task is pending. False if another runner holds the job."""
        self.state.dir.mkdir(parents=True, exist_ok=True)
        lock = (self.state.dir / LOCK_FILE).open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        try:
            (self.state.dir / PID_FILE).write_text(str(os.getpid()))
            while not self._stopping.is_set():
                if self.state.read_manifest().get("job_state") == "terminated":
                    break
                todo = self.pending()
                if not todo:
                    break
                self._run_all(todo)
        finally:
            self.kill_all()
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
        return True

    def _run_all(self, todo: list[int]) -> None:
        queue = iter(todo)
        queue_lock = threading.Lock()
        errors: list[BaseException] = []

        def work(bar) -> None:
            while not self._stopping.is_set():
                with queue_lock:
                    index = next(queue, None)
                if index is None:
                    return
                try:
                    if self.run_task(index):
                        bar.advance()
                except BaseException as exc:  # surfaced after the threads stop
                    errors.append(exc)
                    self._stopping.set()
                    return

        with self.progress.bar("running tasks", len(todo)) as bar:
            threads = [threading.Thread(target=work, args=(bar,), daemon=True)
                       for _ in range(min(self.parallel, len(todo)))]
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

    def run_task(self, index: int) -> bool:
        """Run one task with retries; journal the outcome. False if interrupted."""
        task_id = self.task_id(index)
        first = index * self.ppt
        points = range(first, min(first + self.ppt, self.point_count))
        task_dir = self.state.task_dir(task_id)
        self.state.append_journal([{"task": task_id, "state": "running", "t": time.time()}])
        retries = 0
        started = time.time()
        while True:
            attempt = self._attempt(task_id, task_dir, points)
            if attempt is None:  # interrupted: stays unfinished, re-run later
                return False
            if attempt.ok or (self.max_retries != -1 and retries >= self.max_retries):
                break
            retries += 1
        self.state.append_journal([{
            "task": task_id, "state": "completed",
            "result": "success" if attempt.ok else "failure",
            "exit_code": attempt.exit_code, "retries": retries,
            "code": attempt.code, "message": attempt.message,
            "start": started, "end": time.time(),
        }])
        return True

    def _attempt(self, task_id: str, task_dir: Path, points: range) -> Attempt | None:
        if task_dir.exists():
            shutil.rmtree(task_dir / "wd", ignore_errors=True)
        task_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wall_time if self.wall_time else None
        outputs: list[tuple[Path, int]] = []
        with (task_dir / "stdout.txt").open("wb") as out, (task_dir / "stderr.txt").open("wb") as err:
            for point in points:
                wd = task_dir / "wd" if len(points) == 1 else task_dir / "wd" / f"p{point}"
                wd.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.state.inputs_dir / self.names.config, wd / self.names.config)
                shutil.copyfile(self.state.inputs_dir / self.names.local_inputs(point),
                                wd / self.names.inputs)
                env = dict(self.env, SUPERBATCH_TASK_ID=task_id, SUPERBATCH_POINT=str(point),
                           AZ_BATCH_TASK_WORKING_DIR=str(wd))
                result = self._execute(wd, env, out, err, deadline)
                if result is None:
                    return None
                if not result.ok:
                    return result
                produced = wd / self.names.outputs
                if not produced.exists():
                    return Attempt(False, 0, "OutputMissing",
                                   f"the worker exited 0 but wrote no {self.names.outputs} "
                                   f"(point {point})")
                outputs.append((produced, point))
        # Like Azure Batch's upload on success: a task's outputs appear only when all its
        # points succeeded, so both backends reduce the same points.
        self.state.outputs_dir.mkdir(parents=True, exist_ok=True)
        for produced, point in outputs:
            os.replace(produced, self.state.outputs_dir / self.names.local_outputs(point))
        return Attempt(True, 0)

    def _execute(self, wd: Path, env: dict, out, err, deadline: float | None) -> Attempt | None:
        if self._stopping.is_set():
            return None
        proc = subprocess.Popen(self.command, shell=True, cwd=wd, env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        with self._lock:
            self._procs[proc.pid] = proc
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                proc.wait()
                return Attempt(False, None, "MaxWallClockTimeExceeded",
                               f"the task ran longer than its max_wall_time "
                               f"({self.wall_time:g} s) and was terminated")
        finally:
            with self._lock:
                self._procs.pop(proc.pid, None)
        if self._stopping.is_set() and code < 0:
            return None  # killed because the runner is stopping
        if code != 0:
            return Attempt(False, code, "NonZeroExitCode" if code > 0 else "Killed",
                           f"the worker exited with code {code}")
        return Attempt(True, 0)

    def stop(self) -> None:
        self._stopping.set()
        self.kill_all()

    def kill_all(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached runner: ``python -m superbatch.backends.local_runner DIR``."""
    import argparse

    parser = argparse.ArgumentParser(prog="superbatch-local-runner")
    parser.add_argument("job_dir")
    parser.add_argument("--parallel", type=int, default=None)
    args = parser.parse_args(argv)
    job_dir = Path(args.job_dir)
    runner = Runner(JobState(job_dir.parent, job_dir.name), args.parallel)

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
