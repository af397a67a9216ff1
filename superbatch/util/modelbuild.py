"""Building superbatch's own pydantic models (the spec, the job record) without pydantic's
plugin scan.

The first validator pydantic builds in a process looks for plugins among every installed
distribution's entry points: about a tenth of ``superbatch validate``'s start-up. Plugins
observe validation; these models are superbatch's internals, so they are built with
``PYDANTIC_DISABLE_PLUGINS`` (pydantic's documented switch) set for the build only. The scan
is not cached then: a model of the user's, built later in the process, still gets its plugins.

Even with the switch set, pydantic's plugin loader imports ``importlib.metadata`` (about
15 ms, a sixth of validate's start-up) when it is first imported. If no validator was built
before, the loader's module is stood in for during the build by one that has no plugins and
asks the real one for anything else; it is gone afterwards, so a later model imports the
real loader.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

SWITCH = "PYDANTIC_DISABLE_PLUGINS"
LOADER = "pydantic.plugin._loader"


class _NoPlugins(types.ModuleType):
    """Stands for ``pydantic.plugin._loader`` while superbatch's models are built."""

    @staticmethod
    def get_plugins() -> tuple:
        return ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # what the import system asks of any module
            raise AttributeError(name)
        # Whatever else a pydantic version asks of its loader: the real module's.
        if sys.modules.get(LOADER) is self:
            del sys.modules[LOADER]
        import importlib

        return getattr(importlib.import_module(LOADER), name)


def build(*models: Any) -> None:
    """Build each model's validator and serializer now, unless it is built already."""
    pending = [m for m in models if not m.__pydantic_complete__]
    if not pending:
        return
    # Another thread would see the variable too (its models, the processes it starts):
    # then the models are built as pydantic builds them on first use, plugins and all.
    if threading.active_count() > 1:
        for model in pending:
            model.model_rebuild()
        return
    before = os.environ.get(SWITCH)
    os.environ[SWITCH] = "__all__"
    stand_in = None
    if LOADER not in sys.modules:
        stand_in = sys.modules[LOADER] = _NoPlugins(LOADER)
    try:
        for model in pending:
            model.model_rebuild()
    finally:
        if stand_in is not None and sys.modules.get(LOADER) is stand_in:
            del sys.modules[LOADER]
        if before is None:
            del os.environ[SWITCH]
        else:
            os.environ[SWITCH] = before
