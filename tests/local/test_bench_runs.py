"""The benchmarks run (tiny sizes, nothing timed): every local mode and floor gives the
for-loop's result, and the node-time section reads the tasks' run times from the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import local, localfloors, nodetime

REPO = Path(__file__).resolve().parents[2]


def test_floors_compute_the_for_loop():
    total = local.for_loop(0, 6)[1]
    halves = [local.for_loop(first, count)[1] for first, count in localfloors.halves(6)]
    assert localfloors.joblib_parallel(6)[1] == total
    assert localfloors.fork_floor(6, files=True)[1] == halves
    assert localfloors.in_process_floor(6)[1] == halves
    assert localfloors.script_floor(6)[1] == halves
    assert localfloors.process_floor(2)[1] == local.for_loop(0, 2)[1]


def test_local_section_runs_every_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "QUICK_BELOW", 1)
    monkeypatch.setattr(local, "RUNS", 1)
    monkeypatch.setattr(local, "PROCESS_POINTS", 2)
    monkeypatch.setattr(local, "MAP_POINTS", 3)
    sec = local.run(4, tmp_path / "local", log=lambda _: None)
    cases = [row.case for row in sec.rows]
    for mode in (
        "isolation point",
        "isolation task",
        "worker.function",
        "superbatch.map",
        "script floor",
    ):
        assert any(case.startswith(mode) for case in cases), cases
    assert all(row.value > 0 for row in sec.rows if row.unit == "ms")
    assert "equalled the for-loop's sum exactly" in sec.notes[0]


def test_nodetime_section_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(nodetime, "QUICK_CURVE", ((1, 2),))
    monkeypatch.setattr(nodetime, "PROCESS_POINTS", 2)
    monkeypatch.setattr(nodetime, "TARGET_TASKS", 2)
    sec = nodetime.run(4, True, tmp_path / "node", log=lambda _: None)
    target = [row for row in sec.rows if row.passed is not None]
    assert target and all(row.value > 0 for row in target)
    assert any("1 point(s) a task" in row.case for row in sec.rows)
    floor = [row for row in sec.rows if row.case.startswith("fork+files floor")]
    assert floor and floor[0].value > 0
    assert any(note.startswith("The machine's 1-minute load average") for note in sec.notes)


@pytest.mark.parametrize("args", [["--only", "nosuch"]])
def test_unknown_section_is_refused(args):
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "unknown benchmark(s): nosuch" in done.stderr


def test_the_add_collection_floor_sends_the_bodies_superbatch_sends(tmp_path):
    # The floor's tasks run the seed's Python worker through the task runner, as the real
    # submit's do (it once built the shell loop's smaller bodies: a floor of other work).
    from services import AZURITE_ACCOUNT, AZURITE_KEY

    from bench.bodies import task_bodies
    from bench.common import write_job

    spec = write_job(tmp_path, "bodies", 3)
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://127.0.0.1:1/{AZURITE_ACCOUNT};"
    )
    bodies = task_bodies(spec, "job-floor", connection)
    assert [b["id"] for b in bodies] == ["task-00000", "task-00001", "task-00002"]
    for body in bodies:
        assert "the task runner (it runs the command)" in body["commandLine"]
        assert any(
            "taskrunner-" in f.get("filePath", "") + f.get("httpUrl", "")
            for f in body["resourceFiles"]
        ), body["resourceFiles"]
