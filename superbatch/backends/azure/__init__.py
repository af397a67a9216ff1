"""The azure backend: Azure Batch for compute, Blob Storage for files.

``AzureBackend`` imports the Azure SDKs, on first use: only commands that need them do (the
package's ``spec`` module, which the registry contributes to every spec, imports none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from superbatch.backends.azure.backend import AzureBackend

__all__ = ["AzureBackend"]


def __getattr__(name: str):
    if name == "AzureBackend":
        from superbatch.backends.azure.backend import AzureBackend

        return AzureBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
