"""Fixtures of the scenario suite (the azure rig is defined in tests/rigs.py)."""

from rigs import rig  # noqa: F401 - a pytest fixture
