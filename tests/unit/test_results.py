"""Issue 13, parts 1-3: results with their parameters: tables, grids, reducers that take the
points. On the fake backend (in-process); the same code runs after every backend's collect."""

from __future__ import annotations

import csv
import json
import sys
import tracemalloc

import fakebackend
import numpy as np
import pytest
from clihelp import invoke, write_spec


def spec(tmp_path, command="double", grid="parameters: {x: [1, 2, 3]}", collect="{reduce: list}"):
    (tmp_path / "worker").mkdir(exist_ok=True)
    return write_spec(
        tmp_path,
        f"name: res\nbackend: fake\nworker: {{command: {command}, "
        f"directory: worker}}\n{grid}\ncollect: {collect}\n",
    )


def test_table_csv_has_the_parameters_beside_each_output(tmp_path):
    path = spec(
        tmp_path,
        grid="parameters: {x: [1, 2], y: [a, b]}",
        collect="{reduce: table, output: out.csv}",
    )
    result = invoke("run", path, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["result"]["rows"] == 4
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["x"] + r["y"] for r in rows] == ["1a", "1b", "2a", "2b"]  # point order
    assert [r["value"] for r in rows] == ["2", "2", "4", "4"]
    assert list(rows[0]) == ["point", "task_id", "x", "y", "value"]
    assert rows[3]["task_id"] == "task-00003" and rows[3]["point"] == "3"


def test_mappings_flatten_and_short_arrays_spread(tmp_path):
    path = spec(tmp_path, "mapping", collect="{reduce: table, output: out.jsonl}")
    assert invoke("run", path).code == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows[0] == {
        "point": 0,
        "task_id": "task-00000",
        "x": 1,
        "loss": 0.5,
        "fit.a": 1,
        "fit.ok": False,
    }
    arrays = spec(tmp_path, "array", collect="{reduce: table, output: a.csv}")
    assert invoke("run", arrays, "--new").code == 0
    row = next(csv.DictReader((tmp_path / "a.csv").open()))
    assert (row["value.0"], row["value.1"]) == ("1", "1.5")


def test_a_parameter_named_like_an_output_keeps_both(tmp_path):
    path = spec(
        tmp_path,
        "first",
        grid="parameters: {value: [1, 2]}",
        collect="{reduce: table, output: t.csv}",
    )
    assert invoke("run", path).code == 0
    row = next(csv.DictReader((tmp_path / "t.csv").open()))
    assert row["value"] == "1" and row["out.value"] == "2"


def test_missing_outputs_keep_their_rows(tmp_path):
    path = spec(tmp_path, "fail-on-2", collect="{reduce: table, output: t.csv}")
    assert invoke("run", path).code == 1
    partial = invoke("collect", path, "--allow-missing")
    assert partial.code == 0, partial.stderr
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert [(r["x"], r["value"]) for r in rows] == [("1", "2"), ("2", ""), ("3", "6")]


def test_parquet_with_pyarrow_and_a_clear_refusal_without(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    path = spec(tmp_path, "mapping", collect="{reduce: table, output: t.parquet}")
    assert invoke("run", path).code == 0
    table = pq.read_table(tmp_path / "t.parquet").to_pylist()
    assert [r["loss"] for r in table] == [0.5, 1.0, 1.5] and table[2]["fit.a"] == 3
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
    refused = invoke("validate", path, "--json")
    assert refused.code == 2 and "superbatch[parquet]" in refused.stderr
    assert json.loads(refused.stdout)["ok"] is False


@pytest.mark.parametrize(
    "collect, words",
    [
        ("{reduce: table}", ["collect.output"]),
        ("{reduce: table, output: t.npy}", [".csv, .jsonl, .parquet"]),
        ("{reduce: sum, output: t.parquet}", ["reduce: table or grid"]),
        ("{reduce: grid, output: g.csv}", [".npz, .nc"]),
    ],
)
def test_table_and_grid_outputs_are_checked_before_anything_runs(tmp_path, collect, words):
    path = spec(tmp_path, collect=collect)
    result = invoke("run", path)
    assert result.code == 2 and all(w in result.stderr for w in words), result.stderr
    assert not (tmp_path / ".superbatch").exists()


def test_a_table_streams_its_rows(tmp_path):
    """Memory does not grow with the rows (a million rows are measured by `make bench`)."""
    from superbatch.results.tables import write_table

    def peak(count: int) -> int:
        items = (
            (i, f"task-{i // 100:05d}", {"seed": i, "alpha": i * 0.5}, {"loss": i / 3})
            for i in range(count)
        )
        tracemalloc.start()
        summary = write_table(items, tmp_path / f"t{count}.csv")
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert summary["rows"] == count
        return used

    small, large = peak(5_000), peak(50_000)
    assert large < 1.5 * small + 2**20, (small, large)
    with (tmp_path / "t50000.csv").open() as handle:
        assert sum(1 for _ in handle) == 50_001


def test_grid_npz_has_axes_coordinates_and_values(tmp_path):
    path = spec(
        tmp_path,
        "first",
        grid="parameters: {x: [1, 2, 3], y: {range: [2]}}",
        collect="{reduce: grid, output: g.npz}",
    )
    result = invoke("run", path, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["result"]["dims"] == {"x": 3, "y": 2}
    data = np.load(tmp_path / "g.npz")
    assert data["values"].shape == (3, 2) and data["values"][2, 1] == 6
    assert data["coord.x"].tolist() == [1, 2, 3] and data["coord.y"].tolist() == [0, 1]
    assert data["dims"].tolist() == ["x", "y"]


def test_grid_zip_axes_array_outputs_and_missing_points(tmp_path):
    path = spec(
        tmp_path,
        "array",
        grid="parameters: {pair: {zip: {x: [1, 2], s: [a, b]}}}",
        collect="{reduce: grid, output: g.npz}",
    )
    assert invoke("run", path).code == 0
    data = np.load(tmp_path / "g.npz")
    assert data["values"].shape == (2, 2) and data["values"][1].tolist() == [2, 2.5]
    assert data["coord.x"].tolist() == [1, 2] and data["coord.s"].tolist() == ["a", "b"]
    failing = spec(tmp_path, "fail-on-2", collect="{reduce: grid}")
    assert invoke("run", failing, "--new").code == 1
    printed = json.loads(invoke("collect", failing, "--allow-missing", "--json").stdout)
    assert printed["result"]["values"] == [2.0, None, 6.0]  # NaN where a point is missing


def test_grid_netcdf_with_xarray(tmp_path):
    import xarray

    path = spec(
        tmp_path,
        "mapping",
        grid="parameters: {x: [1, 2], y: [1]}",
        collect="{reduce: grid, output: g.nc}",
    )
    assert invoke("run", path).code == 0, "run"
    data = xarray.open_dataset(tmp_path / "g.nc")
    assert data["values_loss"].dims == ("x", "y")
    assert data["values_loss"].sel(x=2, y=1).item() == 1.0


def test_grid_refuses_listed_points(tmp_path):
    path = spec(tmp_path, grid="points: [{x: 1}, {x: 2}]", collect="{reduce: grid}")
    result = invoke("validate", path)
    assert result.code == 2 and "no axes" in result.stderr and "reduce: table" in result.stderr


def test_custom_reducers_may_take_the_points(tmp_path):
    path = spec(tmp_path, grid="parameters: {x: [1, 2, 3]}", collect="{reduce: 'pick:best'}")
    (tmp_path / "pick.py").write_text(
        "def best(points, values):\n    return max(zip(values, points), key=lambda pv: pv[0])[1]\n"
    )
    result = invoke("run", path, "--json")
    assert result.code == 0 and json.loads(result.stdout)["result"] == {"x": 3}
    fakebackend.HELD.clear()


def test_a_result_pickle_cannot_hold_is_refused_in_words(tmp_path):
    """A .pkl result that pickle refuses (a PicklingError, a TypeError or an AttributeError,
    as the value goes) is a user error naming the file; nothing is written."""
    from superbatch.errors import UserError
    from superbatch.results.output import write_result

    class Local:
        pass

    lambda_in_main = eval("lambda: 1", {"__name__": "__main__"})  # not found by its name
    for value in (lambda_in_main, (x for x in ()), Local()):
        target = tmp_path / "r.pkl"
        with pytest.raises(UserError) as info:
            write_result([value], target)
        assert f"cannot be written as .pkl to {target}" in str(info.value)
        assert not target.exists() and list(tmp_path.iterdir()) == []
