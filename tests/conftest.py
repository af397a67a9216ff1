"""Shared fixtures. Services are real processes on 127.0.0.1; nothing reaches Azure."""
from __future__ import annotations

import pytest

from services import start_azurite


@pytest.fixture(scope="session")
def azurite():
    """A running Azurite blob service (session-wide)."""
    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()
