"""The parameter grid: products, ranges, linspace, zip, explicit points and point files."""

import json
import subprocess
import sys

import numpy as np
import pytest
from clihelp import invoke, write_spec

from superbatch.errors import SpecError
from superbatch.plan.chunks import JobPlan, auto_points_per_task
from superbatch.plan.points import Grid
from superbatch.spec.load import load_spec

HEAD = "name: g\nworker: {command: 'true', directory: .}\n"


def grid(tmp_path, body):
    return Grid(load_spec(write_spec(tmp_path, HEAD + body)))


def test_product_order_is_nested_loop_order(tmp_path):
    g = grid(tmp_path, "parameters:\n  a: [1, 2]\n  b: [x, y, z]\n")
    assert len(g) == 6
    assert list(g) == [{"a": a, "b": b} for a in (1, 2) for b in "xyz"]


def test_range_and_linspace_match_python_and_numpy(tmp_path):
    g = grid(tmp_path, "parameters:\n  r: {range: [0, 10, 3]}\n")
    assert [p["r"] for p in g] == list(range(0, 10, 3))
    g = grid(tmp_path, "parameters:\n  r: {range: [4]}\n")
    assert [p["r"] for p in g] == [0, 1, 2, 3]
    g = grid(tmp_path, "parameters:\n  f: {range: [0.0, 1.0, 0.25]}\n")
    assert [p["f"] for p in g] == [0.0, 0.25, 0.5, 0.75]
    g = grid(tmp_path, "parameters:\n  l: {linspace: [0, 1, 7]}\n")
    assert [p["l"] for p in g] == np.linspace(0, 1, 7).tolist()


def test_float_range_values_are_the_decimals_written(tmp_path):
    # steps of 0.1 give 0.3, not the float sum 0.30000000000000004
    g = grid(tmp_path, "parameters:\n  f: {range: [0, 1, 0.1]}\n")
    assert [p["f"] for p in g] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    g = grid(tmp_path, "parameters:\n  f: {range: [0.05, 0.2, 0.05]}\n")
    assert [p["f"] for p in g] == [0.05, 0.1, 0.15]
    g = grid(tmp_path, "parameters:\n  f: {range: [0, 1, 0.3333333333333333]}\n")
    assert [p["f"] for p in g] == [0.0, 0.3333333333333333, 0.6666666666666666]


def test_zip_advances_together(tmp_path):
    g = grid(tmp_path, "parameters:\n  seed: [1, 2]\n  zip: {a: [1, 2, 3], b: {range: [3]}}\n")
    assert list(g)[:3] == [
        {"seed": 1, "a": 1, "b": 0},
        {"seed": 1, "a": 2, "b": 1},
        {"seed": 1, "a": 3, "b": 2},
    ]
    assert len(g) == 6


def test_explicit_points(tmp_path):
    g = grid(tmp_path, "points:\n  - {seed: 1, x: a}\n  - {seed: 5}\n")
    assert list(g) == [{"seed": 1, "x": "a"}, {"seed": 5}]


def test_points_file_csv_and_jsonl(tmp_path):
    (tmp_path / "p.csv").write_text("seed,name,w\n1,a,0.5\n2,b,1e3\n")
    g = grid(tmp_path, "points_file: p.csv\n")
    assert list(g) == [{"seed": 1, "name": "a", "w": 0.5}, {"seed": 2, "name": "b", "w": 1000.0}]
    (tmp_path / "p.jsonl").write_text('{"seed": 1}\n\n{"seed": [2, 3]}\n')
    g = grid(tmp_path, "points_file: p.jsonl\n")
    assert list(g) == [{"seed": 1}, {"seed": [2, 3]}]


def test_points_file_errors_name_file_and_line(tmp_path):
    (tmp_path / "p.csv").write_text("seed,name\n1,a\n2\n")
    with pytest.raises(SpecError, match=r"p\.csv, line 3: points_file: 1 values for 2 columns"):
        grid(tmp_path, "points_file: p.csv\n")
    (tmp_path / "p.jsonl").write_text('{"seed": 1}\n{"seed": \n')
    with pytest.raises(SpecError, match=r"p\.jsonl, line 2, column \d+: points_file: invalid JSON"):
        grid(tmp_path, "points_file: p.jsonl\n")
    with pytest.raises(SpecError, match=r"line 3: points_file: cannot read"):
        grid(tmp_path, "points_file: missing.csv\n")


def test_empty_axis_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="the grid has no points"):
        grid(tmp_path, "parameters:\n  a: []\n")


def test_points_can_start_anywhere(tmp_path):
    g = grid(tmp_path, "parameters:\n  a: {range: [10]}\n  b: {range: [10]}\n")
    assert list(g.points(37, 40)) == [{"a": 3, "b": 7}, {"a": 3, "b": 8}, {"a": 3, "b": 9}]


def test_task_ids_are_deterministic_and_chunking_covers_every_point(tmp_path):
    path = write_spec(
        tmp_path, HEAD + "parameters:\n  a: {range: [10]}\ntasks: {points_per_task: 3}\n"
    )
    plans = [JobPlan.build(load_spec(path), "local") for _ in range(2)]
    ids = [[t.id for t in p.tasks()] for p in plans]
    assert ids[0] == ids[1] == ["task-00000", "task-00001", "task-00002", "task-00003"]
    chunks = [(t.id, pts) for t, pts in plans[0].points_with_tasks()]
    assert [len(p) for _, p in chunks] == [3, 3, 3, 1]
    assert [pt["a"] for _, pts in chunks for pt in pts] == list(range(10))


def test_auto_chunk_size(tmp_path):
    from superbatch.backends.azure import AzureBackend
    from superbatch.backends.local import LocalBackend

    assert auto_points_per_task(4, 16) == 1
    assert auto_points_per_task(100_000, 1000) == 100
    assert auto_points_per_task(100_000, 4000) == 25
    spec = load_spec(write_spec(tmp_path, HEAD + "parameters: {a: [1]}\n"))
    # Locally a task starts a task runner: 8 tasks a slot, whatever the points.
    assert LocalBackend.auto_tasks(spec, 2) == 16
    assert auto_points_per_task(10_000, LocalBackend.auto_tasks(spec, 2)) == 625
    # On a service: at least 1,000 tasks, 8 a slot beyond that (500 slots: 4,000).
    assert AzureBackend.auto_tasks(spec, None) == 1000
    big = spec.model.model_copy(
        update={
            "azure": spec.model.azure.model_copy(
                update={
                    "pool": spec.model.azure.pool.model_copy(
                        update={"dedicated_nodes": 500, "low_priority_nodes": 0}
                    )
                }
            )
        }
    )
    assert AzureBackend.auto_tasks(type(spec).from_model(big, spec.path), None) == 4000


def test_million_point_grid_validates_in_bounded_memory(tmp_path):
    path = write_spec(
        tmp_path, HEAD + "parameters:\n  a: {range: [1000]}\n  b: {linspace: [0, 1, 1000]}\n"
    )
    code = (
        "import resource, sys\n"
        "from superbatch.cli import main\n"
        "sys.argv = ['superbatch', 'validate', sys.argv[1], '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )
    lines = proc.stdout.strip().splitlines()
    assert json.loads(lines[0])["points"] == 1_000_000
    assert int(lines[1]) < 200 * 1024  # KiB: far below what 10^6 dicts would need


def test_plan_shows_tasks_and_creates_nothing(tmp_path):
    path = write_spec(tmp_path, HEAD + "parameters:\n  a: {range: [100]}\n")
    result = invoke("plan", path, "--limit", "3", "--json")
    assert result.code == 0
    body = result.json
    assert body["tasks"] == 100
    assert [t["inputs"] for t in body["shown"]] == [[{"a": 0}], [{"a": 1}], [{"a": 2}]]
    assert not (tmp_path / ".superbatch").exists()
    human = invoke("plan", path, "--limit", "2")
    assert 'task-00001  {"a": 1}' in human.stdout and "98 more tasks" in human.stdout


def test_a_csv_file_is_counted_as_it_is_read(tmp_path):
    rows = "".join(f"{i},{i / 3}\n" + ("\n" if i % 1000 == 0 else "") for i in range(20_000))
    (tmp_path / "p.csv").write_text("seed,x\n" + rows)
    g = grid(tmp_path, "points_file: p.csv\n")
    assert len(g) == 20_000 == sum(1 for _ in g)
    assert list(g.points(19_999)) == [{"seed": 19_999, "x": 19_999 / 3}]
    (tmp_path / "p.csv").write_text("seed,x\n" + rows + "1,2,3\n")
    with pytest.raises(SpecError, match=r"p\.csv, line 20022: points_file: 3 values for 2"):
        grid(tmp_path, "points_file: p.csv\n")
