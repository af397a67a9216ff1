"""One warm task runner per slot (issue 23, the local backend): with isolation ``point`` or
``task`` a runner thread's task runner serves task after task, so single-point tasks do not
each pay an interpreter start; under ``task`` the points run inside it, so module state
carries over from task to task (as joblib reuses its workers). A warm task runner killed
from outside is replaced and its task runs again; a forked point killed for its wall time
leaves the warm task runner serving the next task, a point run inside it ends it (a new one
serves the next task). Real processes throughout: each point logs ``<x> <pid> <parent pid>``
to a file outside the job."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from clihelp import superbatch, write_spec

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")

LOGGED = """\
import os, pickle, subprocess, sys, time
x = pickle.load(open('inputs.pickle', 'rb'))['x']
log = sys.argv[1]
open(log, 'a').write(f'{x} {os.getpid()} {os.getppid()}\\n')
"""


def job(root: Path, body: str, xs: list[int], isolation: str = "point", tasks: str = "") -> Path:
    (root / "worker").mkdir(parents=True, exist_ok=True)
    (root / "worker" / "w.py").write_text(LOGGED + body)
    log = root.parent / f"{root.name}-points.log"
    return write_spec(
        root,
        f"name: warm\nworker: {{command: 'python {{worker_dir}}/w.py {log}', directory: worker,"
        f" isolation: {isolation}}}\nparameters: {{x: {xs}}}\ncollect: {{reduce: list}}\n"
        f"tasks: {{max_retries: 0{tasks}}}\n",
    )


def logged(spec: Path) -> list[tuple[int, int, int]]:
    """``(x, pid, parent pid)`` per point run, in the order they started."""
    path = spec.parent.parent / f"{spec.parent.name}-points.log"
    if not path.exists():
        return []
    return [tuple(int(word) for word in line.split()) for line in path.read_text().splitlines()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


WRITE_X = "pickle.dump(x, open('outputs.pickle', 'wb'))\n"


@pytest.mark.parametrize("isolation", ["point", "task"])
def test_single_point_tasks_share_a_task_runner_per_slot(tmp_path, isolation):
    # Its standard input is empty, as a task runner's own closed pipe (not the warm one's socket).
    body = "assert sys.stdin.read() == ''\n" + WRITE_X
    spec = job(tmp_path, body, list(range(8)), isolation)
    result = superbatch("run", spec, "--parallel", "2", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == list(range(8))
    runs = logged(spec)
    assert sorted(x for x, _, _ in runs) == list(range(8))
    if isolation == "point":  # forked from a warm task runner: its parent
        task_runners = {parent for _, _, parent in runs}
        assert len(task_runners) <= 2, runs
        assert len({pid for _, pid, _ in runs}) == 8  # still a process per point
    else:  # the point runs inside the slot's task runner
        task_runners = {pid for _, pid, _ in runs}
        assert len(task_runners) <= 2, runs
    assert not any(_alive(pid) for pid in task_runners)  # none left once the job is done


KILLED_ONCE = (
    """\
if x == 1 and not os.path.exists(log + '.killed'):
    open(log + '.waiting', 'w').write(str(os.getppid()))
    time.sleep(60)
"""
    + WRITE_X
)


def test_a_warm_task_runner_killed_mid_task_is_replaced_and_the_task_runs_again(tmp_path):
    spec = job(tmp_path, KILLED_ONCE, [0, 1, 2, 3])
    log = spec.parent.parent / f"{tmp_path.name}-points.log"
    started = time.monotonic()
    assert superbatch("submit", spec, "--parallel", "1").code == 0
    waiting = Path(f"{log}.waiting")
    deadline = time.monotonic() + 30
    while not waiting.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = int(waiting.read_text())
    assert "superbatch.taskrunner" in _cmdline(first)
    Path(f"{log}.killed").write_text("")
    os.kill(first, signal.SIGKILL)  # from outside, while it runs point 1
    done = superbatch("collect", spec, "--wait", "--json")
    assert done.code == 0, done.stderr
    assert done.json["result"] == [0, 1, 2, 3]
    assert time.monotonic() - started < 40  # not the 60 s the killed point would sleep
    runs = logged(spec)
    assert [x for x, _, _ in runs] == [0, 1, 1, 2, 3]  # task 1 again, and only it
    parents = [parent for _, _, parent in runs]
    assert parents[0] == parents[1] == first  # task 0 and 1 in the same warm task runner
    assert parents[2] == parents[3] == parents[4] != first  # its replacement serves the rest
    assert not _alive(runs[1][1]), "the killed task runner's point outlived it"
    failures = superbatch("status", spec, "--json").json["failures"]
    assert failures == []


OUT_OF_TIME = (
    """\
if x == 1:
    child = subprocess.Popen(['sleep', '60'])
    open(log + '.child', 'w').write(str(child.pid))
    time.sleep(60)
"""
    + WRITE_X
)


def test_a_point_past_its_wall_time_is_killed_and_the_slots_next_task_runs_warm(tmp_path):
    spec = job(tmp_path, OUT_OF_TIME, [0, 1, 2], tasks=", max_wall_time: 2s")
    started = time.monotonic()
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 1
    assert time.monotonic() - started < 30
    failures = superbatch("status", spec, "--json").json["failures"]
    assert [(f["task_id"], f["code"]) for f in failures] == [
        ("task-00001", "MaxWallClockTimeExceeded")
    ]
    collected = superbatch("collect", spec, "--allow-missing", "--json").json
    assert collected["result"] == [0, 2]
    runs = logged(spec)
    assert [x for x, _, _ in runs] == [0, 1, 2]
    assert len({parent for _, _, parent in runs}) == 1  # the same warm task runner throughout
    assert not _alive(runs[1][1])
    child = int(Path(f"{spec.parent.parent / tmp_path.name}-points.log.child").read_text())
    assert not _alive(child), "the timed-out point's child outlived the wall-time kill"
    logs = superbatch("logs", spec, "task-00002", "--json").json
    assert logs["stderr"] == ""  # the next task's files hold only its own


def test_under_isolation_task_module_state_and_atexit_carry_over_within_a_slot(tmp_path):
    # A module of the worker's files counts the points its process ran: under isolation task
    # a later task of the slot sees the count an earlier task left (docs/worker.md). atexit
    # handlers run once, when the warm process ends, not at the end of each task.
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "counter.py").write_text(
        "import os\nSEEN = []\n\n"
        "def bye(log):\n    open(log + '.atexit', 'a').write(f'{os.getpid()}\\n')\n"
    )
    body = (
        "import atexit, counter\n"
        "counter.SEEN.append(x)\n"
        "if len(counter.SEEN) == 1:\n"
        "    atexit.register(counter.bye, log)\n"
        "pickle.dump(list(counter.SEEN), open('outputs.pickle', 'wb'))\n"
    )
    spec = job(tmp_path, body, list(range(6)), "task")
    result = superbatch("run", spec, "--parallel", "2", "--json")
    assert result.code == 0, result.stderr
    runs = logged(spec)
    pids = {pid for _, pid, _ in runs}
    assert len(pids) <= 2, runs
    by_pid = {pid: [x for x, p, _ in runs if p == pid] for pid in pids}
    # Each point's output is what its process ran so far, this point included.
    for x, seen in enumerate(result.json["result"]):
        pid = next(p for xx, p, _ in runs if xx == x)
        ran = by_pid[pid]
        assert seen == ran[: ran.index(x) + 1], (x, seen, by_pid)
    assert max(len(seen) for seen in result.json["result"]) >= 3  # some task saw another's
    atexits = Path(f"{spec.parent.parent / tmp_path.name}-points.log.atexit").read_text()
    assert sorted(int(pid) for pid in atexits.split()) == sorted(pids)  # once per process
    assert not any(_alive(pid) for pid in pids)


def test_under_isolation_task_a_point_past_its_wall_time_ends_the_warm_task_runner(tmp_path):
    spec = job(tmp_path, OUT_OF_TIME, [0, 1, 2, 3], "task", tasks=", max_wall_time: 2s")
    started = time.monotonic()
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 1
    assert time.monotonic() - started < 30
    failures = superbatch("status", spec, "--json").json["failures"]
    assert [(f["task_id"], f["code"]) for f in failures] == [
        ("task-00001", "MaxWallClockTimeExceeded")
    ]
    collected = superbatch("collect", spec, "--allow-missing", "--json").json
    assert collected["result"] == [0, 2, 3]
    runs = logged(spec)
    assert [x for x, _, _ in runs] == [0, 1, 2, 3]
    pids = [pid for _, pid, _ in runs]
    assert pids[0] == pids[1]  # tasks 0 and 1 in one warm task runner
    assert pids[2] == pids[3] != pids[1]  # a new one serves the tasks after the timeout
    assert not _alive(pids[1])
    child = int(Path(f"{spec.parent.parent / tmp_path.name}-points.log.child").read_text())
    assert not _alive(child), "the timed-out point's child outlived the wall-time kill"
    logs = superbatch("logs", spec, "task-00002", "--json").json
    assert logs["stderr"] == ""
