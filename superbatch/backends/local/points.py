"""A task's task runner (``superbatch.taskrunner``), seen from the local runner: started,
waited for, ended.

On Linux the task runner supervises the task's points itself (a child subreaper that ends
every process a point started when the point ends, and ends its points when told to stop or
when the runner's thread that started it dies); it holds the task lock, the workers do not.
Elsewhere it runs in a process group of its own that the runner (and its nanny) kills.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, cast

from superbatch.backends.local.nanny import kill_group
from superbatch.backends.local.pycommand import python_command
from superbatch.contract.manifest import worker_manifest
from superbatch.contract.names import file_names
from superbatch.jobs.codestore import snapshot_dir
from superbatch.plan.chunks import Chunking
from superbatch.taskrunner import boot, supervise


class TaskProcess:
    """One task runner, waited for as a ``subprocess.Popen``."""

    supervised = supervise.SUPPORTED

    def __init__(self, manifest: dict, cwd, env: dict[str, str], out: IO, err: IO, lock: int):
        manifest = dict(manifest, lock_fd=lock, parent=os.getpid())
        self._proc = subprocess.Popen(
            boot.command(sys.executable),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
            pass_fds=(lock,),
        )
        stdin = cast(IO[bytes], self._proc.stdin)  # stdin=PIPE: never None
        try:
            stdin.write(json.dumps(manifest).encode())
            stdin.close()
        except OSError:
            pass  # it died at once: its exit code says so
        self.pid = self.holder = self._proc.pid

    def wait(self, timeout: float | None = None) -> int:
        return self._proc.wait(timeout)

    def end(self) -> None:
        """Supervised: ask it to end its point (it kills all the point's processes); else
        kill its process group."""
        if self.supervised:
            with contextlib.suppress(OSError):
                self._proc.terminate()
        else:
            kill_group(self.pid)


def end_holder(pid: int) -> None:
    """End what an earlier runner left holding a task lock: its task runner, or its group."""
    if supervise.SUPPORTED:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    else:
        kill_group(pid)


def manifest_base(record, state, path: str, can_fork: bool) -> dict:
    """What every task's manifest says about running the job's worker here: the script run
    by this interpreter, the job's copy of the worker's files, outputs into the state."""
    found = None if record.spec.worker.function else python_command(record.command, path)
    if record.code is not None:
        worker_dir = snapshot_dir(state.root, record.code)
    else:  # submitted before snapshots: the worker's directory itself
        worker_dir = Path(record.spec_path).parent / (record.spec.worker.directory or ".")
    names = file_names(record.format)
    multi_point = Chunking(record.point_count, record.points_per_task).multi_point
    return worker_manifest(
        record.spec.worker,
        record.format,
        record.command,
        multi_point,
        argv=found.argv if found else None,
        executable=found.executable if found else None,
        worker_dir=str(worker_dir.resolve()),
        can_fork=can_fork,
        outputs_dir=str(state.outputs_dir),
        # a multi-point task's outputs tar holds them as an Azure task's does
        outputs_pattern=f"p{{}}/{names.outputs}" if multi_point else names.local_outputs_pattern,
        wall_time=record.max_wall_time_s,
    )
