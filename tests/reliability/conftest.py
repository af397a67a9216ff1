"""Fixtures for the reliability tests: Azurite + the project's Batch emulator, as in tests/azure."""
from __future__ import annotations

import shutil

import pytest

from clihelp import REPO
from relhelpers import make_rig


@pytest.fixture
def rig(azurite, tmp_path):
    """Azurite + a fresh emulator (tasks run; `/app` is the rig's worker/ directory)."""
    rig = make_rig(azurite, tmp_path)
    try:
        yield rig
    finally:
        rig.emulator.stop()


@pytest.fixture
def demo_rig(rig):
    """The demo job and the seed's worker in the rig's directory."""
    shutil.copytree(REPO / "worker", rig.root / "worker", dirs_exist_ok=True)
    (rig.root / "jobs").mkdir()
    spec = rig.root / "jobs" / "sum-of-powers.yaml"
    text = (REPO / "jobs" / "sum-of-powers.yaml").read_text()
    spec.write_text(text.replace("container: superbatch",
                                 f"container: sb{abs(hash(str(rig.root))) % 10**8}"))
    rig.spec = spec
    return rig


@pytest.fixture
def rig_factory(azurite, tmp_path):
    """Rigs with emulator options of the test's choosing (faults, no task runs...)."""
    made = []

    def make(name: str = "rig", **options):
        rig = make_rig(azurite, tmp_path / name, **options)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.emulator.stop()
