"""Benchmarks that show superbatch scales: `python -m bench` (see docs/benchmarks.md)."""
