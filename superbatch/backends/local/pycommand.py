"""Which worker commands the task runner may run in-process or forked (isolation ``point`` and
``task``): ``python SCRIPT [ARGS...]`` and nothing else.

Otherwise a worker command runs through ``/bin/sh``. The task runner runs the script without a
shell, so the command must mean the same either way: ``python`` or ``python3`` that the
worker's PATH resolves to the interpreter superbatch runs under (the runner puts its
directory first), a script given by its absolute path, and plain words. Whatever a shell
would read specially (operators, redirections, variables, globs, ``~``, comments, an
assignment or an interpreter option before the script) keeps a process per point.
"""

from __future__ import annotations

import os
import shutil
import sys
import zipfile
from dataclasses import dataclass

from superbatch.contract.manifest import python_words


@dataclass(frozen=True)
class PythonCommand:
    executable: str  # what `python` resolves to, the worker's sys.executable
    argv: list[str]  # [interpreter word, script, *args], the worker's sys.orig_argv

    @property
    def script(self) -> str:
        return self.argv[1]


def python_command(command: str, path: str) -> PythonCommand | None:
    """The command as a Python script run, or None if only a shell can run it as meant."""
    words = python_words(command)
    if words is None:
        return None
    executable = shutil.which(words[0], path=path)
    ours = os.path.dirname(sys.executable)
    if not executable or os.path.dirname(executable) != ours:
        return None
    if not os.path.samefile(executable, sys.executable):
        return None
    script = words[1]
    if not os.path.isabs(script) or not os.path.isfile(script) or zipfile.is_zipfile(script):
        return None
    return PythonCommand(executable, words)
