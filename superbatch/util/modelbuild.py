"""Building superbatch's own pydantic models (the spec, the job record) without pydantic's
plugin scan.

The first validator pydantic builds in a process looks for plugins among every installed
distribution's entry points, importing ``importlib.metadata`` to do so: about a tenth of
``superbatch validate``'s start-up. Plugins observe validation; these models are superbatch's
internals, so they are built with ``PYDANTIC_DISABLE_PLUGINS`` (pydantic's documented switch)
set for the build only. The scan is not cached then: a model of the user's, built later in
the process, still gets its plugins.
"""

from __future__ import annotations

import os
import threading
from typing import Any

SWITCH = "PYDANTIC_DISABLE_PLUGINS"


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
    try:
        for model in pending:
            model.model_rebuild()
    finally:
        if before is None:
            del os.environ[SWITCH]
        else:
            os.environ[SWITCH] = before
