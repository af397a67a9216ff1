"""Progress bars appear on a terminal, and never in pipes."""

import os
import pty
import subprocess
import sys
import time

from clihelp import write_spec


def test_progress_bar_on_a_terminal_only(tmp_path):
    (tmp_path / "w.py").write_text(
        "import joblib, time\ntime.sleep(0.3)\njoblib.dump(1, 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: p\nworker: {command: 'python {worker_dir}/w.py'}\n"
        "parameters: {x: {range: [12]}}\ncollect: {reduce: sum}\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["COLUMNS"] = "100"
    env["TERM"] = "xterm"  # a terminal that can draw bars (TERM=dumb draws none, rightly)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "superbatch", "run", str(spec), "--parallel", "2"],
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    assert out.decode().strip().splitlines()[-1] == "12"  # stdout stays clean
    assert b"running tasks" in seen and b"/12" in seen
    # Regression: once the run's bar reached 12/12, collect's wait drew a second bar from 0.
    assert b"waiting for tasks" not in seen
