"""Reducers: exactly the interpreter's own results, streamed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from superbatch.errors import UserError
from superbatch.results.reduce import make_reducer

REPO = Path(__file__).resolve().parents[2]
# Python 3.12 made sum() of floats compensated (Neumaier): for these, a plain running total
# gives 0.0 where the loop `sum(values)` gives 2.0.
CANCELLING = [1e100, 1.0, -1e100, 1.0]


def test_sum_is_the_interpreters_sum_on_floats_that_tell():
    reduce = make_reducer("sum")
    assert reduce(iter(CANCELLING)) == sum(CANCELLING)
    assert reduce(iter([0.1] * 10)) == sum([0.1] * 10)
    assert reduce(iter([1, 2**70, 3])) == 2**70 + 4  # ints stay exact


def test_mean_is_sum_over_count():
    assert make_reducer("mean")(iter(CANCELLING)) == sum(CANCELLING) / 4
    assert make_reducer("mean")(iter([])) is None


def test_sum_streams_one_value_at_a_time():
    seen = []

    def values():
        for v in range(5):
            seen.append(v)
            assert len(seen) - 1 == v  # nothing was read ahead and kept
            yield float(v)

    assert make_reducer("sum")(values()) == 10.0


def _newer_pythons() -> list[str]:
    """Interpreters >= 3.12 on this machine (pyenv's or on PATH), if any."""
    found = []
    for name in ("python3.12", "python3.13", "python3.14"):
        path = shutil.which(name)
        if path and "shims" not in Path(path).parts:  # pyenv's shims need a selection
            found.append(path)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for version in sorted(pyenv.glob("3.1[2-9]*")) if pyenv.is_dir() else []:
        found.append(str(version / "bin" / "python3"))
    return [p for p in dict.fromkeys(found) if Path(p).exists()]


def test_sum_matches_sum_on_every_python_found_here():
    """On 3.12+ a running total differs from sum(); run the reducer under each found there.
    (With none installed, the in-process test above still pins sum() to the interpreter.)"""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from superbatch.results.reduce import "
        "make_reducer; v = [1e100, 1.0, -1e100, 1.0]; "
        "print(make_reducer('sum')(iter(v)) == sum(v), sum(v))"
    )
    for python in _newer_pythons():
        out = subprocess.run([python, "-c", code, str(REPO)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["True", "2.0"], (python, out.stdout)


ADVERSARIAL = [*CANCELLING, 0.1, 0.2, 0.3, -0.0, 5e-324, 1e308, 1e308, -1e308, float("nan")]


@pytest.mark.parametrize("name", ["sum", "mean", "min", "max", "list"])
@pytest.mark.parametrize("values", [CANCELLING, [0.1] * 10, ADVERSARIAL, [2.5], []], ids=repr)
def test_of_float64s_gives_what_the_reducer_gives_the_numpy_values(name, values):
    """Collect reads NumPy float64 outputs as floats when the result is only printed or
    written as text (results/numbers.py): its reducer's result must print the same."""
    from superbatch.contract.codec import to_jsonable

    reduction = make_reducer(name)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = reduction(iter([np.float64(v) for v in values]))
    got = reduction.of_float64s(iter(values))
    assert repr(to_jsonable(got)) == repr(to_jsonable(expected))


def test_of_float64s_adds_one_value_after_another_on_every_python_found_here():
    """sum() of NumPy float64 values adds them one after another; on 3.12+ sum() of the same
    numbers as floats is compensated (2.0 here), so the float reducer must not use it."""
    assert sum(np.float64(v) for v in CANCELLING) == 1.0
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from superbatch.results.reduce import "
        "make_reducer; v = [1e100, 1.0, -1e100, 1.0]; "
        "print(make_reducer('sum').of_float64s(iter(v)), make_reducer('mean').of_float64s(iter(v)))"
    )
    for python in [sys.executable, *_newer_pythons()]:
        out = subprocess.run([python, "-c", code, str(REPO)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["1.0", "0.25"], (python, out.stdout)


def test_only_builtin_reducers_of_numbers_have_a_float_form():
    assert make_reducer("stack").of_float64s is None
    assert make_reducer("concat").of_float64s is None
    assert make_reducer("table").of_float64s is None


def test_min_max_elementwise_and_collecting_reducers():
    arrays = [np.array([1, 5]), np.array([3, 2])]
    assert make_reducer("min")(iter(arrays)).tolist() == [1, 2]
    assert make_reducer("max")(iter([3, 1, 2])) == 3
    assert make_reducer("stack")(iter(arrays)).tolist() == [[1, 5], [3, 2]]
    assert make_reducer("concat")(iter([[1], [2, 3]])) == [1, 2, 3]
    assert make_reducer("list")(iter("ab")) == ["a", "b"]
    assert make_reducer("none").kind == "none"


@pytest.mark.parametrize(
    "source, words",
    [
        ("def f(values):\n    return 1\n", None),
        ("raise RuntimeError('boom at import')\n", ["importing module", "boom at import"]),
        ("def f(values:\n", ["syntax error", "line 1"]),
        ("g = 1\n", ["has no function 'f'"]),
    ],
)
def test_custom_reducer_modules(tmp_path, source, words):
    module = f"red_{abs(hash(source)) % 10**8}"
    (tmp_path / f"{module}.py").write_text(source)
    if words is None:
        assert make_reducer(f"{module}:f", [tmp_path])(iter([1])) == 1
        return
    with pytest.raises(UserError) as caught:
        make_reducer(f"{module}:f", [tmp_path])
    for word in words:
        assert word in caught.value.message


def test_a_missing_module_is_a_user_error():
    with pytest.raises(UserError, match="cannot import module 'no_such_module_xyz'"):
        make_reducer("no_such_module_xyz:f", [])
