"""No process a point starts outlives the point (issue 22, item 3), as on Azure Batch, where
every process of a task ends with the task: a worker that double-forks and ``setsid``s a
daemon leaves nothing running, holds no task lock, and `run`, `retry` + `collect --wait`
and `status` never wait for the daemon; the same for forked points and processes per point,
and for a point the wall-time limit kills. Real subprocesses throughout."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from clihelp import superbatch, write_spec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux supervision")

DAEMON_SLEEP = 60
# Starts a daemon (double fork + setsid) that sleeps DAEMON_SLEEP s, and records its pid in
# DAEMONS/<point>-<attempt>.pid once it runs.
START_DAEMON = f"""\
import os, pickle, sys, time
x = pickle.load(open('inputs.pickle', 'rb'))['x']
daemons = sys.argv[1]
attempt = len([n for n in os.listdir(daemons) if n.startswith(f'{{x}}-')])
pidfile = os.path.join(daemons, f'{{x}}-{{attempt}}.pid')
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(pidfile + '.tmp', 'w').write(str(os.getpid()))
        os.rename(pidfile + '.tmp', pidfile)
        time.sleep({DAEMON_SLEEP})
    os._exit(0)
os.wait()
while not os.path.exists(pidfile):
    time.sleep(0.01)
"""
SUCCEED = "pickle.dump(x, open('outputs.pickle', 'wb'))\n"


@pytest.fixture(autouse=True)
def no_daemon_left():
    """Kills any daemon a failing test leaves (it would sleep on for a minute)."""
    yield
    for pid in [p for d in CREATED for p in daemon_pids(d) if alive(p)]:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    CREATED.clear()


CREATED: list[Path] = []


def daemon_job(root: Path, name: str, body: str, fork: bool, tasks: str = "") -> tuple[Path, Path]:
    daemons = root.parent / f"{root.name}-daemons"
    daemons.mkdir()
    CREATED.append(daemons)
    (root / "worker").mkdir()
    (root / "worker" / "w.py").write_text(START_DAEMON + body)
    spec = write_spec(
        root,
        f"name: {name}\n"
        f"worker: {{command: 'python {{worker_dir}}/w.py {daemons}', directory: worker, "
        f"fork: {str(fork).lower()}}}\n"
        f"parameters: {{x: [0, 1]}}\ncollect: {{reduce: list}}\n{tasks}",
        name=f"{name}.yaml",
    )
    return spec, daemons


def alive(pid: int) -> bool:
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def daemon_pids(daemons: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(daemons.glob("*.pid"))]


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "process"])
def test_a_daemon_a_point_starts_ends_with_the_point(tmp_path, fork):
    spec, daemons = daemon_job(tmp_path, "daemon", SUCCEED, fork)
    started = time.monotonic()
    result = superbatch("run", spec, "--parallel", "2", "--json")
    took = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 1]
    assert took < DAEMON_SLEEP / 2, f"run waited for the daemons ({took:.1f} s)"
    pids = daemon_pids(daemons)
    assert len(pids) == 2
    assert not [p for p in pids if alive(p)], "a daemon outlived its point"
    status = superbatch("status", spec, "--json").json
    assert (status["succeeded"], status["active"], status["running"]) == (2, 0, 0), status


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "process"])
def test_a_daemon_neither_outlives_a_failed_point_nor_delays_retry_and_collect(tmp_path, fork):
    # The first attempt of point 1 fails after starting its daemon; `retry` runs it again.
    body = "if x == 1 and attempt == 0:\n    sys.exit(3)\n" + SUCCEED
    spec, daemons = daemon_job(tmp_path, "retry", body, fork, "tasks: {max_retries: 0}\n")
    assert superbatch("run", spec, "--parallel", "2").code == 1
    assert not [p for p in daemon_pids(daemons) if alive(p)], "a daemon outlived its point"
    status = superbatch("status", spec, "--json").json
    assert (status["failed"], status["active"], status["running"]) == (1, 0, 0), status
    started = time.monotonic()
    assert superbatch("retry", spec).code == 0
    result = superbatch("collect", spec, "--wait", "--json", "--timeout", "120")
    took = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 1]
    assert took < DAEMON_SLEEP / 2, f"retry + collect --wait waited for a daemon ({took:.1f} s)"
    pids = daemon_pids(daemons)
    assert len(pids) == 3 and not [p for p in pids if alive(p)], pids


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "process"])
def test_the_wall_time_limit_ends_every_process_of_the_point(tmp_path, fork):
    body = f"time.sleep({DAEMON_SLEEP})\n"
    tasks = "tasks: {max_wall_time: 3s, max_retries: 0}\n"
    spec, daemons = daemon_job(tmp_path, "wall", body, fork, tasks)
    started = time.monotonic()
    assert superbatch("run", spec, "--parallel", "2").code == 1
    assert time.monotonic() - started < DAEMON_SLEEP / 2
    codes = {f["code"] for f in superbatch("status", spec, "--json").json["failures"]}
    assert codes == {"MaxWallClockTimeExceeded"}
    pids = daemon_pids(daemons)
    assert len(pids) == 2 and not [p for p in pids if alive(p)], "a daemon outlived the kill"


def test_no_worker_process_holds_the_task_lock(tmp_path):
    # The worker's processes get no descriptor of running.lock: only the supervisor has it.
    body = (
        "held = [os.readlink(f'/proc/self/fd/{fd}') for fd in os.listdir('/proc/self/fd')\n"
        "        if os.path.exists(f'/proc/self/fd/{fd}')]\n"
        "pickle.dump([h for h in held if h.endswith('running.lock')],"
        " open('outputs.pickle', 'wb'))\n"
    )
    for fork in (True, False):
        root = tmp_path / f"fork-{fork}"
        root.mkdir()
        spec, _ = daemon_job(root, "lock", body, fork)
        result = superbatch("run", spec, "--json")
        assert result.code == 0, result.stderr
        assert result.json["result"] == [[], []], (fork, result.json["result"])


@pytest.mark.parametrize(
    "command, code, why",
    [
        ("exit 7", 7, "NonZeroExitCode"),
        ("kill -KILL $$", -9, "Killed"),
        ("kill -TERM $$", -15, "Killed"),
    ],
)
def test_a_supervised_point_exits_as_its_worker_did(tmp_path, command, code, why):
    # The runner reads a negative code as "Killed" (and, while stopping, as interrupted).
    spec = write_spec(
        tmp_path,
        f"name: codes\nworker: {{command: '{command}'}}\nparameters: {{x: [1]}}\n",
    )
    assert superbatch("run", spec).code == 1
    failure = superbatch("status", spec, "--json").json["failures"][0]
    assert (failure["exit_code"], failure["code"], failure["point"]) == (code, why, 0)


@pytest.mark.parametrize("body", [SUCCEED, f"time.sleep({DAEMON_SLEEP})\n"], ids=["ok", "wall"])
def test_isolation_task_ends_daemons_and_keeps_the_wall_time(tmp_path, body):
    # The points run inside the task runner; what they start still ends with each point,
    # and a point that sleeps past max_wall_time is interrupted there.
    tasks = "tasks: {max_wall_time: 3s, max_retries: 0, points_per_task: 2}\n"
    spec, daemons = daemon_job(tmp_path, "task", body, True, tasks)
    spec.write_text(spec.read_text().replace("fork: true", "isolation: task"))
    started = time.monotonic()
    result = superbatch("run", spec, "--json")
    assert time.monotonic() - started < DAEMON_SLEEP / 2
    pids = daemon_pids(daemons)
    assert not [p for p in pids if alive(p)], "a daemon outlived its point"
    if body == SUCCEED:
        assert result.code == 0 and result.json["result"] == [0, 1], result.stderr
        assert len(pids) == 2
    else:
        assert result.code == 1 and len(pids) == 1  # the first point ran out of time
        failure = superbatch("status", spec, "--json").json["failures"][0]
        assert (failure["code"], failure["point"]) == ("MaxWallClockTimeExceeded", 0)
