"""Backends: where tasks run (local processes, Azure Batch) behind one interface."""
