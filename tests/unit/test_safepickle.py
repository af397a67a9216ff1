"""Outputs are unpickled without letting them run code on the collecting machine."""

from __future__ import annotations

import collections
import datetime
import io
import os
import pickle

import joblib
import numpy as np
import pytest

from superbatch.contract import safepickle


def dumped(value, **kwargs) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer, **kwargs)
    return buffer.getvalue()


class Planted:
    """What an attacker writes: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        np.float64(9.5),
        np.int32(3),
        np.arange(6).reshape(2, 3),
        np.array(["ab", "c"]),
        {"a": [1, 2.0, (3, None)], "b": np.ones(2)},
        np.array([1, "x", None], dtype=object),
        datetime.datetime(2026, 1, 2, 3, 4),
        collections.OrderedDict(a=1),
        {1, 2},
        complex(1, 2),
        b"bytes",
        "text",
    ],
)
def test_plain_values_and_numpy_load(value):
    loaded = safepickle.load(dumped(value))
    assert type(loaded) is type(value)
    if isinstance(value, np.ndarray):
        assert loaded.dtype == value.dtype and loaded.tolist() == value.tolist()
    elif isinstance(value, dict) and "b" in value:
        assert loaded["a"] == value["a"] and loaded["b"].tolist() == value["b"].tolist()
    else:
        assert loaded == value


def test_compressed_joblib_files_load():
    assert safepickle.load(dumped(np.arange(3), compress=3)).tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    "wrap", [lambda p: p, lambda p: {"x": [p]}, lambda p: np.array([p], dtype=object)]
)
def test_a_planted_pickle_runs_nothing(tmp_path, wrap):
    marker = tmp_path / "ran"
    for data in (pickle.dumps(wrap(Planted(marker))), dumped(wrap(Planted(marker)))):
        with pytest.raises(safepickle.UntrustedPickle) as caught:
            safepickle.load(data)
        assert "system" in str(caught.value)
    assert not marker.exists()


class Result:
    def __init__(self, value):
        self.value = value


def test_classes_the_spec_allows_load():
    data = dumped(Result(3))
    with pytest.raises(safepickle.UntrustedPickle, match=f"{__name__}.Result"):
        safepickle.load(data)
    assert safepickle.load(data, [f"{__name__}.Result"]).value == 3
    assert safepickle.load(data, [f"{__name__}.*"]).value == 3


def test_plain_pickles_load_without_joblib_exactly_as_through_it():
    """A stream with nothing of joblib's is read by the standard library's unpickler (so a
    collect of numbers does not import joblib); it gives what joblib's reader gives and
    refuses what it refuses."""
    import datetime
    import io
    import pickle

    import joblib
    import numpy as np

    values = [
        np.float64(9.5),
        {"a": [1, 2.5, "x"], "b": (None, True)},
        datetime.date(2026, 12, 5),
        np.arange(6).reshape(2, 3),  # pickled by pickle itself: no joblib wrapper
    ]
    for value in values:
        data = pickle.dumps(value, protocol=4)
        assert safepickle._plain(data)
        fast, slow = safepickle.load(data), safepickle._joblib_load(data, ())
        assert type(fast) is type(slow) and np.array_equal(np.asarray(fast), np.asarray(slow))
    buffer = io.BytesIO()
    joblib.dump(np.arange(4), buffer)
    assert not safepickle._plain(buffer.getvalue())  # joblib's array wrapper: joblib reads it
    assert safepickle.load(buffer.getvalue()).tolist() == [0, 1, 2, 3]
    planted = pickle.dumps(__import__("os").getcwd)  # os.getcwd: outside the allow-list
    with pytest.raises(safepickle.UntrustedPickle):
        safepickle.load(planted)


def test_what_one_allow_list_let_through_is_refused_without_it():
    """The loader remembers what each allowed name was found to be; never across lists."""
    data = pickle.dumps(Result(3), protocol=4)  # read without joblib
    for _ in range(2):
        assert safepickle.load(data, (f"{__name__}.Result",)).value == 3
    with pytest.raises(safepickle.UntrustedPickle):
        safepickle.load(data)
    with pytest.raises(safepickle.UntrustedPickle):
        safepickle.load(data, (f"{__name__}.Other",))
