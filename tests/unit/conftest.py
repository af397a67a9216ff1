"""The unit tier: in-process, no services; the ``fake`` backend stands in for a service."""

import pytest

from superbatch.backends import registry


@pytest.fixture(autouse=True)
def fake_backend(monkeypatch):
    """Register tests/fakebackend.py as ``fake`` (a test-only backend)."""
    monkeypatch.setitem(registry.BACKENDS, "fake", "fakebackend:FakeBackend")
    import fakebackend

    fakebackend.HELD.clear()
    yield
