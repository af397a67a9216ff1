"""One command line run as a node agent runs it: no shell, a declared environment, its own
process group, stdout/stderr into the task directory, killed at its wall-clock limit."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from pathlib import Path

from .files import TaskFailure


def split(command_line: str) -> list[str]:
    """The program and its arguments (POSIX quoting; the service runs no shell)."""
    try:
        args = shlex.split(command_line)
    except ValueError as exc:
        raise TaskFailure(
            "CommandProgramNotFound",
            "The specified command program is not found",
            [
                ("CommandLine", command_line),
                ("Message", f"The command line cannot be split: {exc}"),
            ],
        ) from None
    if not args:
        raise TaskFailure(
            "CommandProgramNotFound",
            "The specified command program is not found",
            [("CommandLine", command_line), ("Message", "The command line is empty.")],
        )
    return args


def launch(args: list[str], cwd: Path, env: dict[str, str], task_dir: Path) -> subprocess.Popen:
    """Start the process; a program that cannot be started is the service's task failure."""
    try:
        with open(task_dir / "stdout.txt", "wb") as out, open(task_dir / "stderr.txt", "wb") as err:
            return subprocess.Popen(
                args,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise TaskFailure(
            "CommandProgramNotFound",
            "The specified command program is not found",
            [("CommandLine", shlex.join(args)), ("Message", str(exc))],
        ) from None
    except (OSError, ValueError) as exc:  # not executable, bad bytes in an argument or variable...
        raise TaskFailure(
            "CommandProgramNotFound",
            "The specified command program is not found",
            [("CommandLine", " ".join(map(str, args))), ("Message", str(exc))],
        ) from None


def kill(proc: subprocess.Popen | None) -> None:
    """SIGKILL the process group (the command and everything it started)."""
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait(proc: subprocess.Popen, timeout: float | None) -> int | None:
    """The exit code (a signal N reported as 128+N, as a shell does), or None at the timeout."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        proc.wait()
        return None
    return 128 - code if code < 0 else code


def identity_name(user_identity: dict | None) -> str:
    """``AZ_BATCH_TASK_USER_IDENTITY``: ``PoolNonAdmin``, ``TaskAdmin``, ... or the user name."""
    identity = user_identity or {}
    if identity.get("username"):
        return identity["username"]
    auto = identity.get("autoUser") or {}
    scope = (auto.get("scope") or "pool").lower()
    admin = (auto.get("elevationLevel") or "nonadmin").lower() == "admin"
    return ("Pool" if scope == "pool" else "Task") + ("Admin" if admin else "NonAdmin")


def environment(
    base: dict[str, str], batch: dict[str, str], job_doc: dict, settings: list[dict] | None
) -> dict[str, str]:
    """What a task sees: the image's (or node's) ``PATH``/``ENV``, the ``AZ_BATCH_*`` variables,
    the job's ``commonEnvironmentSettings``, then the task's own ``environmentSettings``."""
    env = dict(base)
    env.update(batch)
    for item in (job_doc.get("commonEnvironmentSettings") or []) + (settings or []):
        env[item["name"]] = item.get("value") or ""
    return env
