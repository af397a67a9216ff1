"""The azure backend: Azure Batch for compute, Blob Storage for files.

Importing this package imports the Azure SDKs; only commands that need them do.
"""
from superbatch.backends.azure.backend import AzureBackend

__all__ = ["AzureBackend"]
