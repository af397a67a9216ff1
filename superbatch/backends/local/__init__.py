"""The local backend: tasks run as processes on this machine (``backend``), executed by a
runner (``runner``); every point runs below a supervisor (``reaper``, ``points``) that ends all
its processes when the point ends or the runner dies; Python workers are forked from a server
that has imported what they import (``forkserver``), which supervises its points."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]


def __getattr__(name: str):
    # Imported on use: the fork server runs from this package and needs none of it.
    if name == "LocalBackend":
        from superbatch.backends.local.backend import LocalBackend

        return LocalBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
