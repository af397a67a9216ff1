"""The backends by name. Adding a backend means adding a line here and a package beside it.

Names are known without importing the backends (the azure one imports the Azure SDKs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends.base import Backend

BACKENDS = {
    "local": "superbatch.backends.local:LocalBackend",
    "azure": "superbatch.backends.azure:AzureBackend",
}
DEFAULT = "local"


def names() -> tuple[str, ...]:
    return tuple(BACKENDS)


def backend_class(name: str) -> type[Backend]:
    """The backend class registered as ``name`` (imported on first use)."""
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
