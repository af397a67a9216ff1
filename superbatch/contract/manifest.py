"""What a task runner's manifest says about the job's worker, shared by every backend
(``superbatch/taskrunner/main.py`` reads it; each backend adds where its files are).

Which commands the task runner may run itself: ``python SCRIPT [ARGS...]`` or ``python3 ...``
in plain words. Whatever a shell would read specially (operators, redirections, variables,
globs, ``~``, comments, an assignment or an interpreter option before the script) keeps a
``/bin/sh`` per point (isolation ``process``), so the command means the same either way.
"""

from __future__ import annotations

import shlex

from superbatch.contract.names import file_names

INTERPRETERS = ("python", "python3")
# Quotes are left to shlex, which reads them as sh does once none of these is present.
SHELL_SPECIAL = frozenset("$`\\;&|<>()*?[]{}~#!\n\r")


def python_words(command: str) -> list[str] | None:
    """``[interpreter word, script, *args]`` of a plain ``python SCRIPT`` command, or None
    if only a shell can run it as meant (the script is not checked: the backend knows where
    it lives)."""
    if SHELL_SPECIAL & set(command):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if len(words) < 2 or words[0] not in INTERPRETERS or words[1].startswith("-"):
        return None
    return words


def worker_manifest(
    worker,
    fmt: str,
    command: str,
    multi_point: bool,
    *,
    argv: list[str] | None,
    executable: str | None,
    worker_dir: str,
    can_fork: bool,
    outputs_dir: str,
    outputs_pattern: str,
    wall_time: float | None,
) -> dict:
    """The part of every task's manifest that says how the job's worker (the spec's
    ``worker`` section, ``fmt``, the resolved ``command``) runs: the isolation it gets
    (``point`` needs a fork and a plain ``python SCRIPT`` command, ``argv``; any other
    command runs as a process), what runs, the contract's files and where outputs go.
    ``executable`` None: the task runner's own interpreter is the worker's."""
    names = file_names(fmt)
    isolation = worker.isolation_mode
    if worker.function:
        argv = executable = None
        if isolation == "point" and not can_fork:
            isolation = "task"
    elif argv is None or (isolation == "point" and not can_fork):
        isolation = "process"
        argv = executable = None
    return {
        "isolation": isolation,
        "command": command,
        "argv": argv,
        "executable": executable,
        "function": worker.function,
        "worker_dir": worker_dir,
        "format": fmt,
        "names": {
            "config": names.config,
            "inputs": names.inputs,
            "outputs": names.outputs,
            "outputs_pattern": outputs_pattern,
        },
        "multi_point": multi_point,
        "outputs_dir": outputs_dir,
        "wall_time": wall_time,
    }
