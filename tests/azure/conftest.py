"""Fixtures of the azure backend tests (defined in tests/rigs.py)."""

from rigs import demo_rig, rig  # noqa: F401 - pytest fixtures
