"""superbatch: turn a for-loop into an Azure Batch job (or a local one)."""

__version__ = "0.1.0"
