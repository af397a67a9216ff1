"""``python -m superbatch.emulator``: prints its endpoint first, serves the SDK, exits 0 on SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from emuhelpers import pool_options


def test_module_entry_point(tmp_path):
    env = dict(os.environ, SUPERBATCH_EMULATOR_KEY="Y2xpLXRlc3Qta2V5")
    proc = subprocess.Popen([sys.executable, "-m", "superbatch.emulator", "--port", "0", "--no-run",
                             "--account", "cliacct", "--root", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("endpoint: http://127.0.0.1:")
        endpoint = first.split(" ", 1)[1]
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential
        c = BatchClient(endpoint, AzureNamedKeyCredential("cliacct", "Y2xpLXRlc3Qta2V5"))
        c.create_pool(pool_options("pool"))
        assert c.get_pool("pool").state == "active"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0

