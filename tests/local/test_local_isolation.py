"""How a task's points run (issues 16 and 23), end to end through the real command line: a
Python worker forked per point from its task runner (``isolation: point``, the default) gives
the same results, logs, exit codes, limits and isolation as a process per point
(``isolation: process``, or the deprecated ``fork: false``), and the fork path is really
taken (a forked point's parent is the task runner and finds numpy already imported);
``isolation: task`` runs a task's points in one process, where module state carries over."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import REPO, seed_loop, superbatch, write_spec

# The first lines of a probed worker: what it found when it started, written beside the state
# directory (the worker runs from <spec dir>/.superbatch/code/<sha256>/; a task that
# succeeded leaves no working directory).
PROBE = (
    "import os as _os, sys as _sys\n"
    "_found = 'numpy' in _sys.modules\n"
    "_probes = _os.path.join(_os.path.dirname(__file__), '..', '..', '..', 'probes')\n"
    "_os.makedirs(_probes, exist_ok=True)\n"
    "with open(_os.path.join(_probes, _os.environ['SUPERBATCH_JOB_ID'] + '-' +"
    " _os.environ['SUPERBATCH_POINT'] + '-' + str(_os.getpid()) + '.json'), 'w') as _f:\n"
    "    _f.write(__import__('json').dumps({'parent': open(f'/proc/{_os.getppid()}/cmdline')"
    ".read().replace(chr(0), ' '), 'self': open('/proc/self/cmdline').read().replace(chr(0), ' '),"
    " 'ppid': _os.getppid(), 'numpy': _found}))\n"
)
SERVER = "superbatch.taskrunner"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux")


def job(root: Path, name: str, worker: str, params: str, worker_keys: str = "", extra: str = ""):
    (root / "worker").mkdir(parents=True, exist_ok=True)
    (root / "worker" / "w.py").write_text(worker)
    return write_spec(
        root,
        f"name: {name}\nworker: {{command: 'python {{worker_dir}}/w.py', directory: worker"
        f"{worker_keys}}}\nparameters: {params}\ncollect: {{reduce: list}}\n{extra}",
        name=f"{name}.yaml",
    )


def probes(spec: Path) -> list[dict]:
    state = spec.parent / ".superbatch"
    job_dir = max(state.glob(f"{spec.stem}-*/"), key=lambda p: p.stat().st_mtime)
    found = (spec.parent / "probes").glob(f"{job_dir.name}-*.json")
    return [json.loads(p.read_text()) for p in sorted(found)]


def snapshot_of(spec: Path) -> Path:
    """The copy of the worker's files the latest job of ``spec`` runs (docs/backends.md)."""
    state = spec.parent / ".superbatch"
    record = max(state.glob(f"{spec.stem}-*/record.json"), key=lambda p: p.stat().st_mtime)
    return state / "code" / json.loads(record.read_text())["code"]


def forked(probe: dict) -> bool:
    """Forked from its task runner: never exec'd (the task runner's command line is its own)."""
    return SERVER in probe["self"] and SERVER in probe["parent"]


def inside(probe: dict) -> bool:
    """Run inside the task runner's own process (isolation: task)."""
    return SERVER in probe["self"] and SERVER not in probe["parent"]


def test_the_demo_job_is_forked_and_prints_the_loops_number(tmp_path):
    shutil.copytree(REPO / "worker", tmp_path / "worker")
    worker = tmp_path / "worker" / "worker.py"
    worker.write_text(PROBE + worker.read_text())
    (tmp_path / "jobs").mkdir()
    spec = tmp_path / "jobs" / "sum-of-powers.yaml"
    shutil.copy(REPO / "jobs" / "sum-of-powers.yaml", spec)
    result = superbatch("run", spec, "--parallel", "2")
    assert result.code == 0, result.stderr
    assert float(result.last_line) == seed_loop()
    found = probes(spec)
    assert len(found) == 4 and all(forked(p) and p["numpy"] for p in found), found
    assert len({p["ppid"] for p in found}) <= 2  # a warm task runner per slot


FIDELITY = """\
import atexit, os, pickle, sys, threading, time
import chatty
x = pickle.load(open("inputs.pickle", "rb"))["x"]
print("out", x)
print("err", x, file=sys.stderr)
os.write(1, b"fd 1\\n")
os.write(2, b"fd 2\\n")
atexit.register(print, "bye", x)


def later():
    time.sleep(0.2)
    print("thread done", x)


threading.Thread(target=later).start()
if x == 1:
    raise ValueError(f"bad {x}")
if x == 2:
    sys.exit(7)
if x == 3:
    sys.exit("three")
if x == 5:
    sys.exit(0)  # without an output
handle = open("outputs.pickle", "wb")  # never closed: the interpreter's exit flushes it
handle.write(pickle.dumps(x))
"""


def test_logs_exit_codes_and_tracebacks_are_those_of_a_process_per_point(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "chatty.py").write_text(
        "import warnings\nprint('chatty imported')\nwarnings.warn('chatty warns')\n"
    )
    runs = {}
    for mode in ("true", "false"):
        spec = job(
            tmp_path,
            f"fid{mode}",
            PROBE + FIDELITY,
            "{x: [0, 1, 2, 3, 4, 5]}",
            f", fork: {mode}, env: {{PYTHONPATH: '{lib}'}}",
            "tasks: {max_retries: 0}\n",
        )
        assert superbatch("run", spec, "--parallel", "2").code == 1
        status = superbatch("status", spec, "--json").json
        logs = {
            t: superbatch("logs", spec, t, "--json").json
            for t in (f"task-{i:05d}" for i in range(6))
        }
        collected = superbatch("collect", spec, "--allow-missing", "--json").json
        runs[mode] = (status["failures"], logs, collected["result"], probes(spec))
    forks, procs = runs["true"], runs["false"]
    assert all(forked(p) for p in forks[3]) and not any(forked(p) for p in procs[3])
    assert forks[2] == procs[2] == [0, 4]
    assert [(f["task_id"], f["exit_code"], f["code"]) for f in forks[0]] == [
        ("task-00001", 1, "NonZeroExitCode"),
        ("task-00002", 7, "NonZeroExitCode"),
        ("task-00003", 1, "NonZeroExitCode"),
        ("task-00005", 0, "OutputMissing"),
    ]
    assert forks[0] == procs[0]
    for task, log in forks[1].items():
        assert (log["stdout"], log["stderr"]) == (
            procs[1][task]["stdout"],
            procs[1][task]["stderr"],
        )
    assert sorted(forks[1]["task-00000"]["stdout"].splitlines()) == sorted(
        ["fd 1", "chatty imported", "out 0", "thread done 0", "bye 0"]
    )  # the order depends on PYTHONUNBUFFERED, alike in both modes
    traceback = forks[1]["task-00001"]["stderr"]
    assert traceback.count("Traceback (most recent call last):\n") == 1
    assert f'  File "{snapshot_of(spec) / "w.py"}", line' in traceback
    assert "runpy" not in traceback and "forkchild" not in traceback
    assert "chatty warns" in traceback and traceback.endswith("ValueError: bad 1\n")
    assert forks[1]["task-00003"]["stderr"].endswith("three\n")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_wall_time_kills_a_forked_point_and_its_children_and_a_signal_is_killed(tmp_path):
    spec = job(
        tmp_path,
        "wall",
        PROBE + "import os, pickle, signal, subprocess, time\n"
        "x = pickle.load(open('inputs.pickle', 'rb'))['x']\n"
        "if x == 0:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
        "time.sleep(60)\n",
        "{x: [0, 1]}",
        extra="tasks: {max_wall_time: 3s, max_retries: 0}\n",
    )
    started = time.monotonic()
    assert superbatch("run", spec, "--parallel", "2").code == 1
    assert time.monotonic() - started < 30
    failures = {f["task_id"]: f for f in superbatch("status", spec, "--json").json["failures"]}
    assert (failures["task-00000"]["code"], failures["task-00000"]["exit_code"]) == ("Killed", -9)
    assert failures["task-00001"]["code"] == "MaxWallClockTimeExceeded"
    assert all(forked(p) for p in probes(spec))
    child = int(
        next((tmp_path / ".superbatch").glob("*/tasks/task-00001/wd/child.pid")).read_text()
    )
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the point's child outlived the wall-time kill"


@pytest.mark.parametrize(
    "isolation, wanted",
    [
        ("point", [[1, 1, 1, 1]] * 5),
        ("process", [[1, 1, 1, 1]] * 5),
        ("task", [[n, n, n, n] for n in range(1, 6)]),  # module state carries over
    ],
)
def test_module_state_crosses_points_only_under_isolation_task(tmp_path, isolation, wanted):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "registry.py").write_text("ITEMS = []\n")
    spec = job(
        tmp_path,
        "leak",
        PROBE + "import builtins, pickle, sys\nimport numpy\nimport registry\n"
        "registry.ITEMS.append(1)\n"
        "sys.modules.setdefault('superbatch_test_leak', []).append(1)\n"
        "numpy.__dict__.setdefault('_superbatch_leak', []).append(1)\n"
        "builtins.__dict__.setdefault('_superbatch_leak', []).append(1)\n"
        "pickle.dump([len(registry.ITEMS), len(sys.modules['superbatch_test_leak']),\n"
        "    len(numpy._superbatch_leak), len(builtins._superbatch_leak)],\n"
        "    open('outputs.pickle', 'wb'))\n",
        "{x: {range: [5]}}",
        f", isolation: {isolation}",
        "tasks: {points_per_task: 5}\n",
    )
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == wanted
    found = probes(spec)
    assert len(found) == 5 and all(forked(p) == (isolation == "point") for p in found)
    assert all(inside(p) == (isolation == "task") for p in found)
    if isolation != "process":  # one task runner for the task's five points
        assert len({p["ppid"] for p in found}) == 1


def test_every_forked_point_draws_from_a_freshly_seeded_generator(tmp_path):
    # A worker that never seeds gets other numbers each point, as an interpreter per point
    # would: numpy's global generator (seeded by the task runner between forks, the first
    # child included) and `random`'s (reseeded at fork by Python), over two tasks of one
    # warm task runner.
    spec = job(
        tmp_path,
        "unseeded",
        "import pickle, random\nimport numpy\n"
        "pickle.dump([float(numpy.random.uniform()), random.random()],"
        " open('outputs.pickle', 'wb'))\n",
        "{x: {range: [8]}}",
        "",
        "tasks: {points_per_task: 4}\n",
    )
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 0, result.stderr
    drawn = result.json["result"]
    assert len(drawn) == 8
    assert len({numpy_value for numpy_value, _ in drawn}) == 8
    assert len({random_value for _, random_value in drawn}) == 8


def rewrites_value(padding: str) -> str:
    """A worker's last lines: ``value.py`` in the job's copy of its files rewritten with
    ``VALUE + 1``, followed by ``padding`` (an expression in VALUE) characters of comment."""
    return (
        "import os as _os\n"
        "here = _os.path.dirname(_os.path.abspath(__file__))\n"
        "_os.chmod(_os.path.join(here, 'value.py'), 0o644)  # the copy is read-only\n"
        "with open(_os.path.join(here, 'value.py'), 'w') as f:\n"
        f"    f.write(f'VALUE = {{VALUE + 1}}\\n' + '#' * ({padding}))\n"
    )


def test_an_edited_worker_module_is_seen_by_the_next_point(tmp_path):
    # The worker edits its own module in the copy of its files that the job runs (a user's
    # edit of worker/ no longer reaches a running job): the next point imports it afresh.
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "value.py").write_text("VALUE = 0\n")
    spec = job(
        tmp_path,
        "edit",
        PROBE + "import pickle\nfrom value import VALUE\n"
        "pickle.dump(VALUE, open('outputs.pickle', 'wb'))\n" + rewrites_value("VALUE + 1"),
        "{x: {range: [3]}}",
        extra="tasks: {points_per_task: 3}\n",
    )
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 1, 2]
    assert all(forked(p) for p in probes(spec))


def test_a_literal_module_imported_before_the_fork_is_dropped_once_edited(tmp_path):
    # A module of literals the script imports first is imported by the task runner before
    # it forks (each point finds it imported, made before the fork: not among the objects
    # the point's collector tracks); once a point edits it, the next point imports the
    # edited file. The first edit keeps its size: only its time tells. (The second changes
    # its size: Python's own cached bytecode, which the next import then meets, is checked
    # against the source's size and its time in whole seconds.)
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "value.py").write_text("VALUE = 0\n")
    spec = job(
        tmp_path,
        "literal",
        "from value import VALUE\n"
        "import gc, pickle, sys\n"
        "ahead = not any(o is vars(sys.modules['value']) for o in gc.get_objects())\n"
        "pickle.dump([VALUE, ahead], open('outputs.pickle', 'wb'))\n" + rewrites_value("VALUE"),
        "{x: {range: [3]}}",
        extra="tasks: {points_per_task: 3}\n",
    )
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [[0, True], [1, False], [2, False]]


def test_a_preloaded_module_is_imported_as_the_script_would_import_it(tmp_path):
    # The task runner imports the script's imports before it forks; a module that looks at
    # sys.argv or __main__ as it is imported sees the script's, as in `python SCRIPT`.
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "startup_probe.py").write_text(
        "import sys, __main__\n"
        "SEEN = [list(sys.argv), getattr(__main__, '__file__', None), sys.executable]\n"
    )
    spec = job(
        tmp_path,
        "argvprobe",
        "import pickle, sys\nimport startup_probe\n"
        "pickle.dump([startup_probe.SEEN, list(sys.argv), __file__, sys.executable],"
        " open('outputs.pickle', 'wb'))\n",
        "{x: [1, 2]}",
    )
    pythonpath = os.pathsep.join(filter(None, [str(lib), os.environ.get("PYTHONPATH")]))
    result = superbatch("run", spec, "--parallel", "1", "--json", env={"PYTHONPATH": pythonpath})
    assert result.code == 0, result.stderr
    for seen, argv, script, executable in result.json["result"]:
        assert argv == [script]
        assert seen == [argv, script, executable]


ENV_WORKER = (
    PROBE + "import pickle\nx = pickle.load(open('inputs.pickle', 'rb'))['x']\n"
    "print('point', x)\n"
    "pickle.dump({'env': dict(_os.environ), 'cwd': _os.getcwd(), 'argv': _sys.argv,\n"
    "    'path0': _sys.path[0]}, open('outputs.pickle', 'wb'))\n"
)


def test_each_point_gets_its_environment_as_a_process_of_its_own_does(tmp_path):
    runs = {}
    for mode in ("true", "false"):
        spec = job(
            tmp_path,
            f"env{mode}",
            ENV_WORKER,
            "{x: [10, 11, 12, 13]}",
            f", fork: {mode}, env: {{LITERAL: 'a b', SECRET: {{from_env: SB_TEST_SECRET}}}}",
            "tasks: {points_per_task: 2}\n",
        )
        result = superbatch("run", spec, "--parallel", "2", "--json", env={"SB_TEST_SECRET": "s3"})
        assert result.code == 0, result.stderr
        job_id = result.json["job_id"]
        runs[mode] = json.loads(json.dumps(result.json["result"]).replace(job_id, "JOB"))
        logs = superbatch("logs", spec, "task-00001", "--json").json
        assert logs["stdout"] == "point 12\npoint 13\n"  # a task's points, appended in order
        found = probes(spec)
        assert len(found) == 4 and all(forked(p) == (mode == "true") for p in found)
    assert runs["true"] == runs["false"]
    for index, point in enumerate(runs["true"]):
        env = point["env"]
        assert env["SUPERBATCH_POINT"] == str(index)
        assert env["SUPERBATCH_TASK_ID"] == f"task-{index // 2:05d}"
        assert env["AZ_BATCH_TASK_WORKING_DIR"] == env["PWD"] == point["cwd"]
        assert point["cwd"].endswith(f"/JOB/tasks/task-{index // 2:05d}/wd/p{index}")
        assert (env["LITERAL"], env["SECRET"]) == ("a b", "s3")
        share = str(max(1, (os.cpu_count() or 1) // 2))
        assert env["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", share)
        kept = snapshot_of(spec)  # both modes' workers are equal: one copy
        assert point["argv"] == [str(kept / "w.py")]
        assert point["path0"] == str(kept.resolve())


@pytest.mark.parametrize(
    "command, keys",
    [
        ("python {worker_dir}/w.py", ", fork: false"),
        ("X=1 python {worker_dir}/w.py", ""),
        ("python -u {worker_dir}/w.py", ""),
        ("python {worker_dir}/w.py > log.txt", ""),
    ],
)
def test_other_commands_and_fork_false_run_a_process_per_point(tmp_path, command, keys):
    spec = job(
        tmp_path,
        "proc",
        PROBE + "open('outputs.pickle', 'wb').write(__import__('pickle').dumps("
        "_os.environ.get('X')))\nprint('to stdout')\n",
        "{x: [1, 2]}",
        keys,
    )
    spec.write_text(spec.read_text().replace("python {worker_dir}/w.py", command))
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == (["1", "1"] if command.startswith("X=1") else [None, None])
    found = probes(spec)
    assert len(found) == 2 and not any(forked(p) or p["numpy"] for p in found)
    logs = superbatch("logs", spec, "task-00000", "--json").json
    assert (logs["stdout"] == "") == (">" in command)  # redirected by the shell


def test_a_preload_that_starts_a_thread_makes_the_runner_run_processes(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "threaded.py").write_text(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
    )
    spec = job(
        tmp_path,
        "thr",
        PROBE + "import pickle, threaded\npickle.dump(1, open('outputs.pickle', 'wb'))\n",
        "{x: [1, 2, 3]}",
        f", env: {{PYTHONPATH: '{lib}'}}",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [1, 1, 1]
    assert not any(forked(p) for p in probes(spec))


def _points_log(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_a_killed_task_runner_is_not_the_workers_failure_and_its_task_runs_again(tmp_path):
    log = tmp_path.parent / f"{tmp_path.name}-points.log"
    spec = job(
        tmp_path,
        "lost",
        PROBE + "import pickle, signal, time\n"
        "x = pickle.load(open('inputs.pickle', 'rb'))['x']\n"
        f"log = {str(log)!r}\n"
        "open(log, 'a').write(f'start {x} {_os.getppid()}\\n')\n"
        "if x == 1 and open(log).read().count('start 1 ') == 1:\n"
        "    _os.kill(_os.getppid(), signal.SIGKILL)  # the fork server dies mid-point\n"
        "    time.sleep(30)\n"
        "pickle.dump(x, open('outputs.pickle', 'wb'))\n"
        "open(log, 'a').write(f'end {x}\\n')\n",
        "{x: {range: [4]}}",
        extra="tasks: {points_per_task: 4, max_retries: 0}\n",
    )
    started = time.monotonic()
    result = superbatch("run", spec, "--parallel", "1", "--json")
    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 25  # not the 30 s the orphaned point would sleep
    assert result.json["result"] == [0, 1, 2, 3]
    lines = _points_log(log)
    starts = [(line[1], int(line[2])) for line in lines if line[0] == "start"]
    assert [x for x, _ in starts] == ["0", "1", "0", "1", "2", "3"]  # the task again
    assert starts[0][1] == starts[1][1] != starts[2][1]  # a new task runner after the loss
    assert [line[1] for line in lines if line[0] == "end"] == ["0", "0", "1", "2", "3"]
    assert all(forked(p) for p in probes(spec))


def test_forked_points_and_their_task_runners_die_with_a_killed_runner(tmp_path):
    log = tmp_path.parent / f"{tmp_path.name}-pids.log"
    spec = job(
        tmp_path,
        "nanny",
        PROBE + f"open({str(log)!r}, 'a').write(f'{{_os.getpid()}} {{_os.getppid()}}\\n')\n"
        "import time\ntime.sleep(30)\n",
        "{x: [1, 2]}",
    )
    assert superbatch("submit", spec, "--parallel", "2").code == 0
    deadline = time.monotonic() + 20
    while len(_points_log(log)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(pid) for line in _points_log(log) for pid in line]
    assert len(pids) == 4
    runner = int(next((tmp_path / ".superbatch").glob("*/runner.pid")).read_text())
    os.kill(runner, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), "forked points or task runners outlived the runner"


HASH_WORKER = (
    PROBE + "import pickle\n"
    "pickle.dump([hash('superbatch'), _os.environ.get('PYTHONHASHSEED')],"
    " open('outputs.pickle', 'wb'))\n"
)


def _fresh_hash(seed: str) -> int:
    code = "print(hash('superbatch'))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_a_hash_seed_the_user_sets_is_every_points_in_both_modes(tmp_path):
    for mode in ("true", "false"):
        spec = job(
            tmp_path,
            f"seed{mode}",
            HASH_WORKER,
            "{x: [1, 2, 3]}",
            f", fork: {mode}, env: {{PYTHONHASHSEED: '123'}}",
        )
        result = superbatch("run", spec, "--parallel", "2", "--json")
        assert result.code == 0, result.stderr
        assert result.json["result"] == [[_fresh_hash("123"), "123"]] * 3
        assert all(forked(p) == (mode == "true") for p in probes(spec))


def test_without_a_set_seed_the_forked_points_of_a_slot_share_their_servers(tmp_path):
    # What docs/worker.md says: a fresh interpreter draws a seed per point; a task runner
    # draws one when it starts, and its forked points share it (it cannot change after start).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    hashes = {}
    for mode in ("true", "false"):
        spec = job(
            tmp_path,
            f"noseed{mode}",
            HASH_WORKER,
            "{x: [1, 2, 3, 4]}",
            f", fork: {mode}",
            "tasks: {points_per_task: 4}\n",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "superbatch", "run", str(spec), "--parallel", "1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)["result"]
        assert all(seed is None for _, seed in result)  # the task runner lends the points none
        hashes[mode] = {h for h, _ in result}
        assert all(forked(p) == (mode == "true") for p in probes(spec))
    assert len(hashes["true"]) == 1
    assert len(hashes["false"]) == 4
