"""A task's points several at a time (superbatch/taskrunner/fanout.py): a task whose manifest
gives ``slots_per_node`` runs its slot's share of the CPUs' worth of points at once, with the
same outputs, lines and failures as one at a time."""

import json
import marshal
import os
import signal
import subprocess
import sys
import tarfile
import time

import pytest
from taskhelp import script_task_manifest

from superbatch.contract.names import inputs_tar
from superbatch.taskrunner import FAILED_POINT_LINE, fanout

TWO_CPUS = fanout.usable_cpus() >= 2  # a cgroup quota counts
needs_two = pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs to run two points at once")

WORKER = """\
import json, os, sys, time
x = json.load(open("inputs.json"))["x"]
time.sleep(0.05)  # long enough for the points of both sharers to overlap
if x in json.load(open("config.json"))["fail"]:
    print(f"point {x} fails", file=sys.stderr)
    sys.exit(3)
json.dump({"y": x * x, "sharer": os.getppid(), "cwd": os.getcwd()}, open("outputs.json", "w"))
"""


def task(tmp_path, points, slots=1, fail=(), worker=WORKER, isolation="point"):
    """Start a task of ``points`` through the task runner, as a node runs it; its Popen."""
    (tmp_path / "worker").mkdir()
    script = tmp_path / "worker" / "w.py"
    script.write_text(worker)
    (tmp_path / "task").mkdir(exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps({"fail": list(fail)}))
    data = [json.dumps({"x": x}).encode() for x in points]
    (tmp_path / "inputs.tar").write_bytes(inputs_tar(list(points), data, "inputs.json"))
    manifest = script_task_manifest(
        tmp_path,
        script,
        points[0],
        len(points),
        isolation=isolation,
        say_failed_point=True,
        slots_per_node=slots,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "superbatch.taskrunner", str(manifest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outputs(tmp_path) -> dict:
    with tarfile.open(tmp_path / "out" / "task-00001.tar") as tar:
        return {
            int(m.name.split("/")[0][1:]): json.loads(tar.extractfile(m).read())
            for m in tar.getmembers()
        }


def lines(tmp_path) -> list[dict]:
    text = (tmp_path / "task" / "points.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@needs_two
def test_a_tasks_points_run_two_at_a_time_with_the_outputs_of_one_at_a_time(tmp_path):
    points = list(range(10, 22))
    run = task(tmp_path, points)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    got = outputs(tmp_path)
    assert {x: v["y"] for x, v in got.items()} == {x: x * x for x in points}
    assert len({v["sharer"] for v in got.values()}) == 2  # two processes ran them
    assert all("/wd/s" in v["cwd"] for v in got.values())  # each sharer its own directory
    assert [line["point"] for line in lines(tmp_path)] == points  # in order, once each
    assert sorted(os.listdir(tmp_path / "task")) == ["points.jsonl"]  # nothing handed back left


@needs_two
def test_one_slot_per_cpu_runs_one_point_at_a_time(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    run = task(tmp_path, list(range(6)), slots=cpus)
    assert run.wait(timeout=60) == 0
    assert len({v["sharer"] for v in outputs(tmp_path).values()}) == 1


@needs_two
def test_a_failing_point_fails_the_task_and_the_points_left_are_not_run(tmp_path):
    run = task(tmp_path, list(range(40)), fail=(5,))
    _, err = run.communicate(timeout=60)
    assert run.returncode == 3
    assert err.rstrip().splitlines()[-1] == FAILED_POINT_LINE.format(
        point=5, message="the worker exited with code 3"
    )
    ran = [line["point"] for line in lines(tmp_path)]
    assert ran == sorted(ran) and 5 in ran
    assert max(ran) < 10  # the other sharer stopped after its point: the pipe was emptied
    assert not (tmp_path / "out").exists()  # a task's outputs are all or nothing


@needs_two
def test_of_two_failing_points_the_lowest_fails_the_task_not_the_first_to_fail(tmp_path):
    worker = WORKER.replace("time.sleep(0.05)", "time.sleep(1.0 if x == 5 else 0.05)")
    run = task(tmp_path, list(range(40)), fail=(5, 6), worker=worker)  # 6 fails first
    _, err = run.communicate(timeout=60)
    assert run.returncode == 3
    assert err.rstrip().splitlines()[-1] == FAILED_POINT_LINE.format(
        point=5, message="the worker exited with code 3"
    )
    failed = [line["point"] for line in lines(tmp_path) if line["exit_code"]]
    assert failed == [5, 6]


@needs_two
def test_a_sharer_that_dies_fails_the_task_naming_its_point(tmp_path):
    worker = WORKER.replace(
        "time.sleep(0.05)",
        "time.sleep(0.05)\nif x == 7: os.kill(os.getppid(), 9); time.sleep(5)",
    )
    run = task(tmp_path, list(range(12)), worker=worker)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1
    assert (
        err.rstrip()
        .splitlines()[-1]
        .startswith(
            FAILED_POINT_LINE.format(point=7, message="the process running point 7 ended")[:40]
        )
    )
    assert "point 7 ended unexpectedly" in err


@needs_two
def test_told_to_stop_the_task_runner_ends_its_sharers_and_logs_what_ran(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    worker = WORKER.replace("time.sleep(0.05)", "time.sleep(0.3)") + (
        f"open(os.path.join({str(done)!r}, str(x)), 'w').close()\n"
    )
    run = task(tmp_path, list(range(40)), worker=worker)
    deadline = time.monotonic() + 60
    while len(os.listdir(done)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    ran = [line["point"] for line in lines(tmp_path)]
    assert 1 <= len(ran) < 40 and ran == sorted(ran)
    left = subprocess.run(["pgrep", "-f", str(tmp_path / "manifest.json")], capture_output=True)
    assert left.stdout == b""  # no sharer or point outlives the task runner


@needs_two
def test_a_handback_left_by_an_earlier_run_is_not_taken_for_a_sharer_that_died(tmp_path):
    """A task cut short after its sharers handed back, run again in the same directory: a
    sharer that dies this time hands back nothing, and the old file is not taken for it."""
    (tmp_path / "task").mkdir()
    for index in (0, 1):
        old = (['{"point":99,"exit_code":0,"wall_s":0.1}'], {99: b"{}"})
        (tmp_path / "task" / fanout.HANDBACK.format(index)).write_bytes(marshal.dumps(old))
    worker = WORKER.replace(
        "time.sleep(0.05)", "time.sleep(0.05)\nif x == 2: os.kill(os.getppid(), 9); time.sleep(5)"
    )
    run = task(tmp_path, list(range(6)), worker=worker)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 1
    assert "point 2 ended unexpectedly" in err
    assert 99 not in [line["point"] for line in lines(tmp_path)]


class Way:
    def __init__(self, own_process: bool):
        self.own_process = own_process


def test_points_at_once_is_the_slots_share_of_the_cpus(monkeypatch):
    monkeypatch.setattr(fanout, "single_threaded", lambda: True)  # pytest's threads aside
    cpus = fanout.usable_cpus()
    forked = Way(own_process=True)
    assert fanout.points_at_once(None, 100, forked) == 1  # the local backend: slots are tasks
    assert fanout.points_at_once(1, 1, forked) == 1
    assert fanout.points_at_once(1, 100, forked) == min(cpus, 100)
    assert fanout.points_at_once(1, 3, forked) == min(cpus, 3)
    assert fanout.points_at_once(cpus, 100, forked) == 1
    assert fanout.points_at_once(cpus * 4, 100, forked) == 1
    # isolation task and a function's points share a process: which follows which shows
    assert fanout.points_at_once(1, 100, Way(own_process=False)) == 1
    monkeypatch.setattr(fanout, "single_threaded", lambda: False)
    assert fanout.points_at_once(1, 100, forked) == 1  # forking with threads is not safe


@pytest.mark.parametrize(
    "v2, v1, quota",
    [
        ("150000 100000", None, 2),  # --cpus 1.5: two points share it
        ("100000 100000", None, 1),
        ("max 100000", None, None),
        (None, ("50000", "100000"), 1),  # cgroup v1
        (None, ("-1", "100000"), None),
        (None, None, None),  # no cgroup files at all
        ("garbage", None, None),
    ],
)
def test_a_cgroups_cpu_quota_caps_the_cpus(tmp_path, v2, v1, quota):
    v2_path, v1_paths = tmp_path / "cpu.max", (tmp_path / "quota", tmp_path / "period")
    if v2 is not None:
        v2_path.write_text(v2 + "\n")
    for path, text in zip(v1_paths, v1 or ()):
        path.write_text(text + "\n")
    assert fanout.cpu_quota(str(v2_path), tuple(map(str, v1_paths))) == quota


def test_a_container_with_one_cpu_runs_one_point_at_a_time(monkeypatch):
    monkeypatch.setattr(fanout, "single_threaded", lambda: True)
    monkeypatch.setattr(fanout, "cpu_quota", lambda: 1)  # run with --cpus 1 on a bigger machine
    assert fanout.points_at_once(1, 100, Way(own_process=True)) == 1


@needs_two
def test_isolation_task_runs_a_tasks_points_one_at_a_time_in_one_process(tmp_path):
    run = task(tmp_path, list(range(6)), isolation="task")
    assert run.wait(timeout=60) == 0
    assert len({v["sharer"] for v in outputs(tmp_path).values()}) == 1


def test_claims_give_each_point_once_and_a_drain_leaves_none():
    claims = fanout.Claims(5, 20000)  # more than a pipe holds unless asked
    taken = iter(claims)
    assert [next(taken) for _ in range(3)] == [5, 6, 7]
    claims.drain()
    assert list(claims) == []
    claims.close()
    claims = fanout.Claims(-2, 4)
    assert list(claims) == [-2, -1, 0, 1]
    claims.close()
