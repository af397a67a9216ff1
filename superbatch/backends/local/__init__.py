"""The local backend: tasks run as processes on this machine (``backend``), executed by a
runner (``runner``) that starts one task runner (``superbatch.taskrunner``, via ``points``) per
task; the task runner runs the task's points and ends all their processes when a point ends
or the runner dies."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]


def __getattr__(name: str):
    # Imported on use: the detached runner's start needs little of it.
    if name == "LocalBackend":
        from superbatch.backends.local.backend import LocalBackend

        return LocalBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
