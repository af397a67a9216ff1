"""The azure backend: Azure Batch for compute, Blob Storage for files.

``AzureBackend`` imports the Azure SDKs, on first use: only commands that need them do (the
package's ``spec`` module, which the registry contributes to every spec, imports none).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends.azure.backend import AzureBackend

# The SDKs log failsafe-deserialisation tracebacks and request details as warnings; with no
# handler configured Python would print them to stderr. Errors reach users as one paragraph.
logging.getLogger("azure").addHandler(logging.NullHandler())

__all__ = ["AzureBackend"]


def __getattr__(name: str):
    if name == "AzureBackend":
        from superbatch.backends.azure.backend import AzureBackend

        return AzureBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
