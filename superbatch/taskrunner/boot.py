"""How a process starts the task runner from this installation, whatever the worker's
``PYTHONPATH`` says: the package's root goes first on ``sys.path`` only while the task runner
is imported (a worker's ``PYTHONPATH`` may hold another superbatch, or none)."""

from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from superbatch.taskrunner.main import main; del sys.path[0]; "
    "sys.exit(main(sys.argv[1:]))"
)
SERVE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from superbatch.taskrunner.serve import serve; del sys.path[0]; "
    "sys.exit(serve())"
)


def command(python: str, manifest: str = "-") -> list[str]:
    """The argv that runs the task runner under ``python`` (the manifest on stdin by default)."""
    return [python, "-c", BOOT, ROOT, manifest]


def serve_command(python: str) -> list[str]:
    """The argv of a warm task runner under ``python`` (``serve.py``: a socket on stdin)."""
    return [python, "-c", SERVE, ROOT]
