"""Shared fixtures and the test tiers.

Tiers (markers applied here, by place and by fixture): ``unit`` is tests/unit (in-process, no
services, under 30 s: `make test-fast`); everything else is ``integration`` (subprocesses,
Azurite, the Batch emulator), and of that, what needs Azurite is also ``azure``. `make test`
runs every tier. Services are real processes on 127.0.0.1; nothing reaches Azure.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from services import start_azurite

UNIT = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(UNIT):
            item.add_marker(pytest.mark.unit)
        else:
            item.add_marker(pytest.mark.integration)
        if "azurite" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.azure)


@pytest.fixture(scope="session")
def azurite():
    """A running Azurite blob service (session-wide)."""
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()
