"""Issue 9 on the local backend: no stale answer, no lost or doubled task, nothing deleted
outside the job, runners that cannot go on stop and say why, workers die with their runner."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import superbatch, write_spec

SQUARE = (
    "import joblib\nx = joblib.load('inputs.pickle')['x']\n"
    "c = joblib.load('config.pickle')\njoblib.dump(x ** c['p'], 'outputs.pickle')\n"
)


def square_job(tmp_path: Path, points: int = 3, extra: str = "") -> Path:
    (tmp_path / "worker").mkdir(parents=True, exist_ok=True)
    (tmp_path / "worker" / "w.py").write_text(SQUARE)
    return write_spec(
        tmp_path,
        "name: sq\nworker: {command: 'python {worker_dir}/w.py', "
        f"directory: worker}}\nglobals: {{p: 2}}\n"
        f"parameters: {{x: {{range: [{points}]}}}}\n"
        f"collect: {{reduce: list}}\n{extra}",
    )


def job_dirs(spec: Path) -> list[Path]:
    root = spec.parent / ".superbatch"
    return sorted(p.parent for p in root.glob("*/record.json")) if root.is_dir() else []


def test_editing_the_worker_runs_it_again_and_reuse_is_announced(tmp_path):
    spec = square_job(tmp_path)
    first = superbatch("run", spec, "--json")
    assert first.code == 0 and first.json["result"] == [0, 1, 4]
    again = superbatch("run", spec, "--json")
    assert again.json["result"] == [0, 1, 4]
    assert "reusing job" in again.stderr and "finished at" in again.stderr
    (tmp_path / "worker" / "w.py").write_text(SQUARE.replace("x ** c['p']", "x ** c['p'] + 1"))
    edited = superbatch("run", spec, "--json")
    assert edited.code == 0, edited.stderr
    assert edited.json["result"] == [1, 2, 5]  # the edited worker's answer, not the old job's
    assert "reusing" not in edited.stderr and len(job_dirs(spec)) == 2


def test_collect_after_the_computation_changed_says_so(tmp_path):
    spec = square_job(tmp_path)
    assert superbatch("run", spec).code == 0
    spec.write_text(spec.read_text().replace("{p: 2}", "{p: 3}"))
    stale = superbatch("collect", spec, "--json")
    assert stale.code == 2 and stale.json["ok"] is False
    assert "changed since job" in stale.stderr and "--job-id" in stale.stderr
    old = job_dirs(spec)[0].name
    explicit = superbatch("collect", spec, "--job-id", old, "--json")
    assert explicit.code == 0 and explicit.json["result"] == [0, 1, 4]
    fresh = superbatch("run", spec, "--json")
    assert fresh.json["result"] == [0, 1, 8]


def test_concurrent_submits_of_one_spec_make_one_job(tmp_path):
    specs = [square_job(tmp_path / f"s{i}", points=40) for i in range(6)]
    for spec in specs:  # a quick worker: the runners these submits start finish at once
        spec.write_text(
            spec.read_text().replace("python {worker_dir}/w.py", "cp inputs.pickle outputs.pickle")
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "superbatch", "submit", str(spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for spec in specs
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    for spec, pair in zip(specs, zip(outs[::2], outs[1::2])):
        assert len(job_dirs(spec)) == 1, spec
        assert pair[0][0].strip() == pair[1][0].strip()  # both print the one job id
        assert superbatch("collect", spec, "--wait", "--timeout", "60").code == 0


def test_a_runner_that_cannot_go_on_stops_and_collect_says_why(tmp_path):
    spec = square_job(tmp_path, points=4, extra="tasks: {max_retries: 0}\n")
    (tmp_path / "worker" / "w.py").write_text("import time\ntime.sleep(0.5)\n" + SQUARE)
    assert superbatch("submit", spec, "--parallel", "1").code == 0
    job = job_dirs(spec)[0]
    (job / "inputs" / "task-00003.tar").unlink()  # the state is damaged under it
    started = time.monotonic()
    result = superbatch("collect", spec, "--wait", "--timeout", "60")
    assert result.code == 3, result
    assert "task-00003.tar is missing" in result.stderr
    assert time.monotonic() - started < 30
    assert result.stderr.count("\nerror:") + result.stderr.startswith("error:") == 1


def test_retry_after_cancel_runs_the_unfinished_tasks(tmp_path):
    spec = square_job(tmp_path, points=4)
    (tmp_path / "worker" / "w.py").write_text(
        "import os, time\nif not os.path.exists(os.environ['GO']):\n    time.sleep(30)\n" + SQUARE
    )
    go = tmp_path / "go"
    env = {"GO": str(go)}
    assert superbatch("submit", spec, "--parallel", "2", env=env).code == 0
    time.sleep(1.0)
    assert superbatch("cancel", spec).code == 0
    status = superbatch("status", spec, "--json")
    assert status.json["job_state"] == "terminated"
    ended = [f for f in status.json["failures"] if f["code"] == "TaskEnded"]
    assert ended and all(f["task_id"] in ("task-00000", "task-00001") for f in ended)
    cancelled = superbatch("collect", spec)
    assert cancelled.code == 1 and "cancelled" in cancelled.stderr and "retry" in cancelled.stderr
    go.touch()
    retried = superbatch("retry", spec, "--json", env=env)
    assert retried.code == 0 and retried.json["requeued"] == [f"task-{i:05d}" for i in range(4)]
    result = superbatch("collect", spec, "--wait", "--json", "--timeout", "60", env=env)
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 1, 4, 9]


def test_the_global_config_is_shared_not_copied_per_task(tmp_path):
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "w.py").write_text(
        "import joblib\nc = joblib.load('config.pickle')\n"
        "joblib.dump(len(c['blob']), 'outputs.pickle')\n"
    )
    spec = write_spec(
        tmp_path,
        "name: big\nworker: {command: 'python {worker_dir}/w.py', "
        "directory: worker}\nglobals: {blob: BLOB}\n"
        "parameters: {x: {range: [40]}}\ncollect: {reduce: sum}\n",
    )
    spec.write_text(spec.read_text().replace("BLOB", "'" + "x" * 2_000_000 + "'"))
    result = superbatch("run", spec)
    assert result.code == 0 and result.last_line == str(40 * 2_000_000)
    inodes = {}
    for path in (job_dirs(spec)[0]).rglob("config.pickle"):
        st = path.stat()
        inodes[(st.st_dev, st.st_ino)] = st.st_size
    assert sum(inodes.values()) < 3 * 2_100_000  # one shared copy (+ the submitted one)


def test_a_full_disk_is_one_paragraph_and_exit_3(tmp_path):
    """A real full file system where this machine allows mounting one (as root); a write
    refused with ENOSPC in-process otherwise."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = _mount_tiny_tmpfs(small)
    try:
        if mounted:
            spec = square_job(small, points=3)
            spec.write_text(
                spec.read_text().replace("{p: 2}", "{p: 2, pad: '" + "y" * 150_000 + "'}")
            )
            result = superbatch("run", spec)
            message = result.stderr
            assert result.code == 3, result
        else:
            from click.testing import CliRunner

            from superbatch.cli import cli

            spec = square_job(tmp_path, points=3)
            spec.write_text(spec.read_text().replace("{p: 2}", "{p: 2, pad: '" + "y" * 5000 + "'}"))
            real = os.write

            def full(fd, data):
                if len(data) > 1000:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real(fd, data)

            os.write = full
            try:
                outcome = CliRunner().invoke(cli, ["submit", str(spec)])
            finally:
                os.write = real
            message = outcome.stderr
            assert outcome.exit_code == 3, message
        assert "no space left" in message.lower() and "Traceback" not in message
        assert message.count("error:") == 1
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(small)], check=False)


def _mount_tiny_tmpfs(path: Path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@pytest.mark.parametrize("how", ["sigkill-runner", "sigkill-runner-and-watchdog", "sigterm-run"])
def test_workers_die_with_their_runner_and_a_point_never_runs_twice_at_once(tmp_path, how):
    log = tmp_path.parent / f"{tmp_path.name}-pids.log"
    spec = square_job(tmp_path, points=2)
    # Each run logs "start PID POINT"; it first checks that no earlier run of its point is
    # still alive ("overlap" if one is), and logs "end PID POINT" when done.
    (tmp_path / "worker" / "w.py").write_text(
        "import os, time\n"
        "point = os.environ['SUPERBATCH_POINT']\n"
        f"log = {str(log)!r}\n"
        "for line in (open(log).read().splitlines() if os.path.exists(log) else []):\n"
        "    kind, pid, p = line.split()\n"
        "    if kind == 'start' and p == point:\n"
        "        try:\n            os.kill(int(pid), 0)\n"
        "            state = open(f'/proc/{pid}/stat').read().split()[2]\n"
        "            if state != 'Z':\n                open(log, 'a').write(f'overlap {pid} {point}\\n')\n"
        "        except OSError:\n            pass\n"
        "open(log, 'a').write(f'start {os.getpid()} {point}\\n')\n"
        "time.sleep(2)\n" + SQUARE + "open(log, 'a').write(f'end {os.getpid()} {point}\\n')\n"
    )
    if how.startswith("sigkill"):
        assert superbatch("submit", spec, "--parallel", "2").code == 0
        runner_pid = int((job_dirs_wait(spec) / "runner.pid").read_text())
        wait_for_lines(log, 2)
        victims = [runner_pid]
        if how == "sigkill-runner-and-watchdog":
            victims += _children(runner_pid, "-S")
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
    else:
        proc = subprocess.Popen(
            [sys.executable, "-m", "superbatch", "run", str(spec), "--parallel", "2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_lines(log, 2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143 and "terminated" in err and "superbatch" in err
    first = [int(line.split()[1]) for line in log.read_text().splitlines()]
    if how != "sigkill-runner-and-watchdog":  # with its watchdog gone, the next runner ends them
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in first) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in first), "workers outlived their runner"
    result = superbatch("collect", spec, "--wait", "--json", "--timeout", "60")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 1]
    lines = log.read_text().splitlines()
    assert not [line for line in lines if line.startswith("overlap")], lines
    assert sorted(line.split()[2] for line in lines if line.startswith("end")) == ["0", "1"]
    assert not any(_alive(p) for p in first)


def _children(pid: int, marker: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == pid and marker.encode() in cmdline:
            found.append(int(stat.parent.name))
    return found


def job_dirs_wait(spec: Path) -> Path:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        dirs = job_dirs(spec)
        if dirs and (dirs[0] / "runner.pid").exists():
            return dirs[0]
        time.sleep(0.05)
    raise AssertionError("no runner started")


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} did not get {count} lines")


@pytest.mark.parametrize("job_id", ["..", "/", "../jobs", str(Path.home())])
def test_delete_with_a_path_for_a_job_id_deletes_nothing(tmp_path, job_id):
    spec = square_job(tmp_path)
    assert superbatch("run", spec).code == 0
    before = sorted(p for p in tmp_path.rglob("*"))
    result = superbatch("delete", spec, "--job-id", job_id, "--yes")
    assert result.code == 2 and "not a job id" in result.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert json.loads(superbatch("status", spec, "--json").stdout)["succeeded"] == 3
