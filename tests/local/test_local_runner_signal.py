"""The detached runner stops on SIGTERM wherever the signal lands in its main thread: its
handler calls ``Runner.stop``, which once took a plain lock (and ``Event.set``'s lock) that
the interrupted code could be holding, and so waited forever."""

from __future__ import annotations

import subprocess
import sys

from clihelp import REPO, superbatch, write_spec

PROBE = """\
import os, signal, sys, time
from pathlib import Path
from superbatch.backends.local.runner import Runner
from superbatch.jobs.state import JobState

job = Path(sys.argv[1])
runner = Runner(JobState(job.parent, job.name))
signal.signal(signal.SIGTERM, lambda signum, frame: runner.stop())  # as __main__ does
with runner._lock:  # the main thread is inside kill_all (or any holder) when it lands
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs here, in this thread
print("stopped" if runner._stopping.is_set() else "not stopped")
"""


def test_sigterm_landing_while_the_runner_holds_its_lock_stops_it(tmp_path):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "w.py").write_text("def f(config, inputs):\n    return inputs['x']\n")
    spec = write_spec(
        tmp_path,
        "name: sig\nworker: {function: 'w:f', directory: worker}\nparameters: {x: [1, 2]}\n",
        name="sig.yaml",
    )
    assert superbatch("run", spec).code == 0
    job = next((tmp_path / ".superbatch").glob("sig-*/"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(job)],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stopped\n"
