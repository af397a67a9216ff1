"""``worker.function: module:function`` (issue 23): the function is called once per point by
the task runner, its return value is the point's output (joblib: read back through the
restricted loader; JSON), under isolation point (forked per call) and task (in process);
a raising point fails its task with its traceback and status names that point; validate
checks the module and the name without importing them. Also: a job's state holds one inputs
file per task and no working directory once its tasks succeeded, and a non-Python command
runs through the shell."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clihelp import superbatch, write_spec

SEEDS = [1, 12, 123, 1234, 5]
MODULE = """\
import os
import numpy as np

CALLS = []


def seed_sum(config, inputs):
    CALLS.append(inputs["seed"])
    np.random.seed(inputs["seed"])
    values = np.power(np.random.uniform(size=config["size"]), config["power"])
    return {"values": values, "calls": len(CALLS), "pid": os.getpid()}


def what_it_sees(config, inputs):
    task = os.getcwd()
    while not os.path.exists(os.path.join(task, "running.lock")):
        task = os.path.dirname(task)
    staged = os.path.join(task, "staged")
    with open(os.path.join(task, "points.jsonl")) as log:
        logged = len(log.read().splitlines())
    return {
        "seed": inputs["seed"],
        "here": sorted(os.listdir(".")),
        "staged": sorted(os.listdir(staged)) if os.path.isdir(staged) else [],
        "logged": logged,
    }


def wanders_off(config, inputs):
    seen = (os.getcwd(), os.environ["PWD"], os.environ["SUPERBATCH_POINT"])
    os.chdir("/")  # the next point still starts in the task's directory, its PWD with it
    os.environ["PWD"] = "/nowhere"
    os.environ["SUPERBATCH_POINT"] = "-1"
    return seen


def fails_on_three(config, inputs):
    if inputs["seed"] == 3:
        raise ValueError(f"no good: {inputs['seed']}")
    return inputs["seed"] * 10
"""


def function_job(
    root: Path, name: str, target: str, keys: str = "", extra: str = "", collect: str = ""
) -> Path:
    (root / "worker").mkdir(exist_ok=True)
    (root / "worker" / "sweep.py").write_text(MODULE)
    return write_spec(
        root,
        f"name: {name}\nworker: {{function: '{target}', directory: worker{keys}}}\n"
        f"globals: {{power: 3, size: [4]}}\nparameters: {{seed: {SEEDS}}}\n"
        f"collect: {{reduce: list{collect}}}\n{extra}",
        name=f"{name}.yaml",
    )


def loop() -> list:
    out = []
    for seed in SEEDS:
        np.random.seed(seed)
        out.append(np.power(np.random.uniform(size=[4]), 3))
    return out


@pytest.mark.parametrize("isolation", ["point", "task"])
def test_a_function_is_the_loops_body(tmp_path, isolation):
    spec = function_job(
        tmp_path,
        f"fn{isolation}",
        "sweep:seed_sum",
        f", isolation: {isolation}",
        "tasks: {points_per_task: 3}\n",
        ", output: out.pkl",
    )
    result = superbatch("run", spec, "--parallel", "2")
    assert result.code == 0, result.stderr
    import pickle

    outputs = pickle.loads((tmp_path / "out.pkl").read_bytes())
    for got, wanted in zip(outputs, loop()):
        assert isinstance(got["values"], np.ndarray)
        assert np.array_equal(got["values"], wanted)
    calls = [o["calls"] for o in outputs]
    pids = [o["pid"] for o in outputs]
    if isolation == "point":  # forked per call: no call sees another's state
        assert calls == [1] * 5 and len(set(pids)) == 5
    else:  # one process per task: the module's state carries over within a task
        assert calls == [1, 2, 3, 1, 2] and len(set(pids[:3])) == 1 != len(set(pids))


def test_a_function_with_json_files(tmp_path):
    spec = function_job(tmp_path, "fnjson", "sweep:seed_sum", ", format: json")
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    for got, wanted in zip(result.json["result"], loop()):
        assert got["values"] == wanted.tolist()


def test_a_raising_point_fails_its_task_and_status_names_that_point(tmp_path):
    spec = function_job(
        tmp_path, "fnfail", "sweep:fails_on_three", extra="tasks: {points_per_task: 2}\n"
    )
    spec.write_text(spec.read_text().replace(f"seed: {SEEDS}", "seed: [1, 2, 3, 4]"))
    assert superbatch("run", spec).code == 1
    failures = superbatch("status", spec, "--json").json["failures"]
    assert len(failures) == 1
    failure = failures[0]
    assert (failure["task_id"], failure["exit_code"], failure["code"]) == (
        "task-00001",
        1,
        "NonZeroExitCode",
    )
    assert failure["point"] == 2 and failure["points"] == [{"seed": 3}]  # not the task's two
    assert failure["stderr_tail"].endswith("ValueError: no good: 3")
    stderr = superbatch("logs", spec, "task-00001", "--json").json["stderr"]
    assert stderr.startswith("Traceback (most recent call last)") and "taskrunner" not in stderr
    text = superbatch("status", spec)
    assert '    failed point 2: {"seed": 3}\n' in text.stdout
    collected = superbatch("collect", spec, "--allow-missing", "--json")
    assert collected.json["result"] == [10, 20]  # task-00001's point 3 (seed 4) is not kept


@pytest.mark.parametrize(
    "target, wanted",
    [
        ("absent:seed_sum", "the module absent is not in worker.directory"),
        ("sweep:nothing", "defines no nothing at module level"),
        ("sweep.sub:f", "the module sweep.sub is not in worker.directory"),
    ],
)
def test_validate_checks_the_module_and_the_name_without_importing(tmp_path, target, wanted):
    spec = function_job(tmp_path, "fnbad", target)
    (tmp_path / "worker" / "sweep.py").write_text(
        MODULE + f"open({str(tmp_path / 'imported')!r}, 'w')\n"
    )
    result = superbatch("validate", spec, "--json")
    assert result.code == 2, result.stderr
    assert wanted in result.json["error"] and "line 2" in result.json["error"]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "imported").exists()  # nothing of the user's code ran
    assert not (tmp_path / ".superbatch").exists()


def test_the_state_holds_an_inputs_file_per_task_and_no_working_directory(tmp_path):
    spec = function_job(
        tmp_path, "fnfiles", "sweep:seed_sum", extra="tasks: {points_per_task: 2}\n"
    )
    assert superbatch("run", spec).code == 0
    job = next((tmp_path / ".superbatch").glob("fnfiles-*/"))
    assert sorted(p.name for p in (job / "inputs").iterdir()) == [
        "config.pickle",
        "task-00000.tar",
        "task-00001.tar",
        "task-00002.tar",
    ]
    for task in ("task-00000", "task-00001", "task-00002"):
        assert sorted(p.name for p in (job / "tasks" / task).iterdir()) == [
            "points.jsonl",
            "running.lock",
            "stderr.txt",
            "stdout.txt",
        ]
    text = (job / "tasks" / "task-00001" / "points.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(line["point"], line["exit_code"]) for line in lines] == [(2, 0), (3, 0)]
    assert all(line["wall_s"] >= 0 for line in lines)
    # a line per point adds up at 10,000 points: compact JSON, no blank after , or :
    assert text.splitlines()[0].startswith('{"point":2,"exit_code":0,"wall_s":')
    assert " " not in text


@pytest.mark.parametrize("isolation", ["point", "task"])
def test_a_function_gets_no_file_per_point(tmp_path, isolation):
    """No config or inputs file, no points.jsonl line while the task runs (written once at
    its end), and no staged output file (a forked point's file is read back once it ended);
    all outputs there at the end."""
    spec = function_job(
        tmp_path,
        f"fnnofiles{isolation}",
        "sweep:what_it_sees",
        f", isolation: {isolation}, format: json",
        "tasks: {points_per_task: 3}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    seen = result.json["result"]
    assert [(o["seed"], o["here"], o["logged"]) for o in seen] == [(s, [], 0) for s in SEEDS]
    assert [o["staged"] for o in seen] == [[]] * len(SEEDS)  # held in memory
    job = next((tmp_path / ".superbatch").glob(f"fnnofiles{isolation}-*/"))
    lines = [json.loads(line) for line in (job / "tasks" / "task-00000" / "points.jsonl").open()]
    assert [(line["point"], line["exit_code"]) for line in lines] == [(0, 0), (1, 0), (2, 0)]


def test_a_non_python_command_runs_through_the_shell(tmp_path):
    spec = write_spec(
        tmp_path,
        "name: shell\nworker: {command: 'tr a-z A-Z < inputs.json > outputs.json', format: json}\n"
        "parameters: {word: [a, bc]}\ncollect: {reduce: list}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [{"WORD": "A"}, {"WORD": "BC"}]


def test_plan_shows_the_function_and_azure_validates_it(tmp_path):
    spec = function_job(tmp_path, "fnplan", "sweep:seed_sum")
    plan = superbatch("plan", spec)
    assert plan.code == 0 and "function: sweep:seed_sum" in plan.stdout
    sampled = superbatch("plan", spec, "--sample", "1", "--json")
    assert sampled.code == 2 and "tasks.estimated_time" in sampled.json["error"]
    azure = superbatch("validate", spec, "--backend", "azure")
    assert azure.code == 0, azure.stderr  # the task runner calls it on Azure too
    spec.write_text(spec.read_text().replace("sweep:seed_sum", "sweep:absent"))
    absent = superbatch("validate", spec, "--backend", "azure", "--json")
    assert absent.code == 2 and "defines no absent at module level" in absent.json["error"]
    assert "Traceback" not in sampled.stdout + sampled.stderr + absent.stdout + absent.stderr
    assert not (tmp_path / ".superbatch").exists()


def test_what_the_module_prints_or_raises_at_import_lands_on_a_tasks_files(tmp_path):
    # `run` has each slot's task runner import the module while it writes the inputs
    # (before any task exists): what the import prints still goes to the first task that
    # runner serves, once, as when the import happened in that task.
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / "loud.py").write_text(
        "import sys\nprint('hello from import')\nprint('note from import', file=sys.stderr)\n"
        "def point(config, inputs):\n    return inputs['x'] * 2\n"
    )
    spec = write_spec(
        tmp_path,
        "name: loud\nworker: {function: 'loud:point', directory: worker}\n"
        "parameters: {x: {range: [6]}}\ncollect: {reduce: list}\n",
        name="loud.yaml",
    )
    result = superbatch("run", spec, "--parallel", "2", "--json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == [0, 2, 4, 6, 8, 10]
    job = next((tmp_path / ".superbatch").glob("loud-*/"))
    outs = [(t / "stdout.txt").read_text() for t in sorted((job / "tasks").glob("task-*"))]
    errs = [(t / "stderr.txt").read_text() for t in sorted((job / "tasks").glob("task-*"))]
    assert sum(o.count("hello from import") for o in outs) == 2  # one import per slot
    assert all(o in ("", "hello from import\n") for o in outs), outs
    assert sum(e.count("note from import") for e in errs) == 2

    # A module that raises when imported fails its tasks with the traceback on their files.
    (tmp_path / "worker" / "loud.py").write_text(
        "raise RuntimeError('broken at import')\ndef point(config, inputs):\n    return 0\n"
    )
    spec.write_text(spec.read_text().replace("name: loud", "name: broken"))
    failed = superbatch("run", spec, "--parallel", "2", "--json")
    assert failed.code == 1, failed.stderr
    job = next((tmp_path / ".superbatch").glob("broken-*/"))
    errs = [(t / "stderr.txt").read_text() for t in sorted((job / "tasks").glob("task-*"))]
    assert errs and all("RuntimeError: broken at import" in e for e in errs if e), errs
    assert any("RuntimeError: broken at import" in e for e in errs)


def test_each_point_of_a_function_starts_in_the_tasks_directory_and_environment(tmp_path):
    """A function run in process that changes its directory and environment leaves the next
    point none of it (the task runner enters the directory through a descriptor)."""
    spec = function_job(
        tmp_path,
        "fnwander",
        "sweep:wanders_off",
        ", isolation: task",
        "tasks: {points_per_task: 5}\n",
    )
    result = superbatch("run", spec, "--json")
    assert result.code == 0, result.stderr
    seen = result.json["result"]
    directory = seen[0][0]
    assert directory.endswith("/wd") and directory != "/"
    assert seen == [[directory, directory, str(point)] for point in range(len(SEEDS))]
