"""superbatch.map from a user's script, on the local backend: the seed's loop gives the
for-loop's value, calling again finds the same job, failures come back as PointError, and
the job is an ordinary superbatch job for the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clihelp import REPO, seed_loop, superbatch
from pyapihelp import SCRIPT


def script(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.py"
    path.write_text(SCRIPT)
    return path


def last_line(path: Path, *args, env=None) -> str:
    """Run a user's script in its directory; the last line it printed."""
    done = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def python(tmp_path: Path, *args, env=None):
    return last_line(script(tmp_path), *args, env=env)


def jobs(tmp_path: Path) -> list[str]:
    return sorted(p.parent.name for p in (tmp_path / ".superbatch").glob("*/record.json"))


def test_map_gives_the_for_loops_value_and_finds_its_job_again(tmp_path):
    assert python(tmp_path, "seeds") == repr(float(seed_loop()))
    assert python(tmp_path, "grid") == repr(float(seed_loop()))
    assert len(jobs(tmp_path)) == 2
    assert python(tmp_path, "seeds") == repr(float(seed_loop()))  # the same call: the same job
    assert len(jobs(tmp_path)) == 2
    listed = superbatch("jobs", "--state-dir", tmp_path / ".superbatch", "--json", cwd=tmp_path)
    assert listed.code == 0 and len(json.loads(listed.stdout)["jobs"]) == 2


def test_the_executor_and_the_joblib_backend_give_the_for_loops_value(tmp_path):
    expected = repr(float(seed_loop()))
    assert python(tmp_path, "executor") == f"{expected} {expected}"
    # map's four calls and the four submits (one batch) compute the same: one job
    assert len(jobs(tmp_path)) == 1
    assert python(tmp_path, "joblib") == expected
    assert len(jobs(tmp_path)) == 2  # Parallel's four calls: one job


def test_a_failing_point_raises_or_is_collected_in_place(tmp_path):
    collected = json.loads(python(tmp_path, "collect"))
    assert collected[:2] == [0, 10] and collected[3] == 30
    index, point, traceback = collected[2]
    assert (index, point) == (2, {"x": 2}) and "ValueError: bad x 2" in traceback
    index, point, job_id, message = json.loads(python(tmp_path, "raise"))
    assert (index, point) == (2, {"x": 2}) and "point 2 (x=2)" in message
    # An ordinary job: the command line knows it by its id.
    spec = next((tmp_path / ".superbatch" / "python").glob("flaky-*.yaml"))
    status = superbatch("status", spec, "--job-id", job_id, "--json", cwd=tmp_path)
    assert status.code == 1 and json.loads(status.stdout)["failed"] == 1


def test_a_lambda_and_what_it_captures_travel_by_value(tmp_path):
    assert python(tmp_path, "lambda") == "[7, 14]"


FILES_SCRIPT = """\
import json, os, sys
import superbatch


def files(config, p):
    return sorted(os.listdir("."))


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(superbatch.map(files, superbatch.grid(x=range(2)), spec=spec)))
"""


def test_map_calls_the_function_without_files_per_point_unless_isolation_is_process(tmp_path):
    path = tmp_path / "files.py"
    path.write_text(FILES_SCRIPT)

    def listed(spec: dict) -> list:
        return json.loads(last_line(path, json.dumps(spec)))

    # worker.function: the task runner calls it, and writes no file for it
    assert listed({"name": "called"}) == [[], []]
    # a process per point runs call.py on the contract's files
    separate = listed({"name": "separate", "worker": {"isolation": "process"}})
    assert separate == [["config.pickle", "inputs.pickle"]] * 2


STATE_SCRIPT = """\
import json, os, sys
import superbatch


def count(config, p):
    seen = sys.__dict__.setdefault("_superbatch_test_calls", [])
    seen.append(p["x"])
    return [os.getpid(), len(seen)]


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(superbatch.map(count, superbatch.grid(x=range(6)), spec=spec, parallel=2)))
"""


def test_map_calls_the_function_in_reused_processes_unless_the_spec_says_otherwise(tmp_path):
    # As joblib's workers: by default each slot's process calls the function point after
    # point (isolation task), so module state carries over; the spec's isolation wins.
    path = tmp_path / "state.py"
    path.write_text(STATE_SCRIPT)

    def called(spec: dict) -> list:
        return json.loads(last_line(path, json.dumps(spec)))

    reused = called({"name": "reused"})
    pids = {pid for pid, _ in reused}
    assert len(pids) <= 2, reused
    for pid in pids:  # each process counts its calls: 1, 2, 3, ... in the order it ran them
        assert (
            sorted(n for p, n in reused if p == pid)
            == list(range(1, 1 + len(reused)))[: sum(p == pid for p, _ in reused)]
        )
    forked = called({"name": "forked", "worker": {"isolation": "point"}})
    assert [n for _, n in forked] == [1] * 6
    assert len({pid for pid, _ in forked}) == 6


def test_a_shipped_function_is_loaded_with_the_lazy_submodules_it_names(tmp_path):
    """call.py loads the function as it is imported (a warm task runner imports it before
    its first task), with the submodules its code reaches of a package that loads them
    lazily (numpy.random), not those of a package that does not (as Python leaves them)."""
    lib = tmp_path / "lib"
    (lib / "lazypkg").mkdir(parents=True)
    (lib / "lazypkg" / "__init__.py").write_text(
        "import importlib\n\n\ndef __getattr__(name):\n"
        "    return importlib.import_module(f'{__name__}.{name}')\n"
    )
    (lib / "lazypkg" / "rng.py").write_text("seed = 7\n")
    (lib / "plainpkg").mkdir()
    (lib / "plainpkg" / "__init__.py").write_text("")
    (lib / "plainpkg" / "hidden.py").write_text("")
    (tmp_path / "fnmod.py").write_text(
        "import lazypkg\nimport plainpkg\n\n\ndef point(config, inputs):\n"
        "    return lazypkg.rng.seed + inputs['x'], getattr(plainpkg, 'hidden', None)\n"
    )
    ship = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from pathlib import Path\nfrom superbatch.pyapi.shipping import ship\nimport fnmod\n"
        "print(ship(fnmod.point, Path(sys.argv[3])))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    shipped = subprocess.run(
        [sys.executable, "-c", ship, str(lib), str(tmp_path), str(tmp_path / "fn")],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    ).stdout.strip()  # fmt: skip
    load = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\nimport call\n"
        "print(sorted(m for m in sys.modules if m.startswith(('lazypkg', 'plainpkg'))))\n"
        "print(call.call({}, {'x': 1}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", load, str(lib), shipped],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert done == ["['lazypkg', 'lazypkg.rng', 'plainpkg']", "(8, None)"]
