"""superbatch.map on Azure (the emulator and Azurite): the function travels in code mode's
archive (no image), its requirements are installed on the node, and the seed's loop gives
the for-loop's value."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from clihelp import seed_loop
from pyapihelp import SCRIPT
from rigs import make_rig


@pytest.fixture
def code_rig(azurite, tmp_path):
    rig = make_rig(azurite, tmp_path, images={})  # no image stand-ins: code mode only
    try:
        yield rig
    finally:
        rig.emulator.stop()


def test_map_runs_the_seed_loop_on_azure_in_code_mode(code_rig, tmp_path):
    (tmp_path / "sweep.py").write_text(SCRIPT)
    (tmp_path / "requirements.txt").write_text("numpy\n")
    spec = {
        "name": "pymap",
        "backend": "azure",
        "worker": {"requirements": "requirements.txt"},
        "azure": {
            "pool": {"id": "pymap", "dedicated_nodes": 1},
            "storage": {"container": f"pm{abs(hash(str(tmp_path))) % 10**8}"},
        },
    }
    env = {**os.environ, **code_rig.env}
    env.pop("SUPERBATCH_STATE_DIR", None)
    expected = repr(float(seed_loop()))
    for entry, printed in (
        ("grid", expected),
        ("executor", f"{expected} {expected}"),
        ("joblib", expected),
    ):
        done = subprocess.run(
            [sys.executable, "sweep.py", entry, json.dumps(spec)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == printed, entry
    records = [json.loads(p.read_text()) for p in (tmp_path / ".superbatch").glob("*/record.json")]
    assert len(records) == 3 and {r["target"]["mode"] for r in records} == {"code"}
