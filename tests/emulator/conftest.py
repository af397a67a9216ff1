"""Fixtures: emulators driven by the real azure-batch SDK over HTTP on 127.0.0.1."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.batch import models as m
from emuhelpers import client_for, pool_options

from batch_emulator.server import BatchEmulator


@pytest.fixture
def make_emulator(tmp_path):
    """Start emulators with the given options; all are stopped at the end of the test."""
    started = []

    def make(**options) -> BatchEmulator:
        options.setdefault("root", tmp_path / f"root{len(started)}")
        # Deleted pools and jobs stay 'deleting' for a moment, not the default seconds.
        options.setdefault("delete_delay", 0.2)
        emu = BatchEmulator(**options).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def emulator(make_emulator) -> BatchEmulator:
    return make_emulator()


@pytest.fixture
def client(emulator) -> BatchClient:
    return client_for(emulator)


@pytest.fixture
def job(client) -> str:
    """A two-node pool ``pool`` and a job ``job`` on it (noaction)."""
    client.create_pool(pool_options("pool"))
    client.create_job(m.BatchJobCreateOptions(id="job", pool_info=m.BatchPoolInfo(pool_id="pool")))
    return "job"
