"""The azure backend: Azure Batch for compute, Blob Storage for files.

Importing this package imports the Azure SDKs; only commands that need them do.
"""

import logging

from superbatch.backends.azure.backend import AzureBackend

# The SDKs log failsafe-deserialisation tracebacks and request details as warnings; with no
# handler configured Python would print them to stderr. Errors reach users as one paragraph.
logging.getLogger("azure").addHandler(logging.NullHandler())

__all__ = ["AzureBackend"]
