"""Fixtures for the reliability tests: Azurite + the project's Batch emulator, as in tests/azure."""

from __future__ import annotations

import pytest
from rigs import demo_rig, make_rig, rig  # noqa: F401 - pytest fixtures shared with tests/azure


@pytest.fixture
def rig_factory(azurite, tmp_path):
    """Rigs with emulator options of the test's choosing (faults, no task runs...)."""
    made = []

    def make(name: str = "rig", **options):
        made.append(make_rig(azurite, tmp_path / name, **options))
        return made[-1]

    yield make
    for each in made:
        each.emulator.stop()
