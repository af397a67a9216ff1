"""Collecting NumPy float64 outputs into a printed or text result reads their numbers without
NumPy (results/numbers.py): the result is the one NumPy's values give, and anything else
(another type among the outputs, a binary result file) is collected as before."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from clihelp import superbatch, write_spec

WORKER = """
import numpy as np

CANCELLING = [1e100, 1.0, -1e100, 1.0, 0.1, 0.2, 0.3]


def value(config, inputs):
    i = inputs["i"]
    if inputs.get("odd") and i == 3:
        return np.float32(0.1)  # not a float64: the outputs are read the usual way
    return np.float64(CANCELLING[i])
"""


def job(tmp_path, reduce: str, output: str = "", odd: bool = False):
    (tmp_path / "worker").mkdir(exist_ok=True)
    (tmp_path / "worker" / "values.py").write_text(WORKER)
    return write_spec(
        tmp_path,
        f"name: f64s\nworker: {{function: 'values:value', directory: worker}}\n"
        f"globals: {{}}\nparameters: {{i: [0, 1, 2, 3, 4, 5, 6], odd: [{str(odd).lower()}]}}\n"
        f"collect: {{reduce: {reduce}{', output: ' + output if output else ''}}}\n",
    )


def numpy_result(reduce: str, odd: bool = False):
    values = [np.float64(v) for v in (1e100, 1.0, -1e100, 1.0, 0.1, 0.2, 0.3)]
    if odd:
        values[3] = np.float32(0.1)
    if reduce == "sum":
        return sum(values)
    if reduce == "mean":
        return sum(values) / len(values)
    if reduce == "list":
        return values
    return (min if reduce == "min" else max)(values)


@pytest.mark.parametrize("reduce", ["sum", "mean", "min", "max", "list"])
def test_printed_and_json_results_are_numpys(tmp_path, reduce):
    spec = job(tmp_path, reduce, "result.json")
    done = superbatch("run", spec, "--json")
    assert done.code == 0, done.stderr
    expected = numpy_result(reduce)
    plain = [float(v) for v in expected] if reduce == "list" else float(expected)
    assert done.json["result"] == plain
    assert json.loads((tmp_path / "result.json").read_text()) == plain
    printed = superbatch("collect", spec)
    assert printed.code == 0, printed.stderr
    assert printed.last_line == (json.dumps(plain) if reduce == "list" else repr(plain))


def test_a_float32_among_the_outputs_is_summed_as_numpy_sums_it(tmp_path):
    spec = job(tmp_path, "sum", odd=True)
    done = superbatch("run", spec, "--json")
    assert done.code == 0, done.stderr
    expected = numpy_result("sum", odd=True)
    assert done.json["result"] == float(expected)


def test_a_binary_result_keeps_numpys_types(tmp_path):
    spec = job(tmp_path, "list", "result.pkl")
    assert superbatch("run", spec).code == 0
    values = pickle.loads((tmp_path / "result.pkl").read_bytes())
    assert [type(v) for v in values] == [np.float64] * 7
    spec = job(tmp_path, "sum", "result.npy")
    assert superbatch("run", spec).code == 0
    assert np.load(tmp_path / "result.npy").dtype == np.float64
