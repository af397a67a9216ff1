"""A pickled NumPy float64 is read as its number without NumPy, and nothing else is."""

from __future__ import annotations

import io
import os
import pickle
import struct
import sys

import joblib
import numpy as np
import pytest

from superbatch.contract.float64s import float64_value

VALUES = [0.0, -0.0, 1.5, -2.25e-300, 5e-324, 1.7976931348623157e308, 0.1, 9.532962532158818]
SPECIAL = [float("inf"), float("-inf"), float("nan")]


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def dumped(value) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    return buffer.getvalue()


def pickles(value: np.float64) -> list[bytes]:
    """Every way a worker's output of ``value`` is pickled: each protocol, and joblib."""
    return [pickle.dumps(value, protocol=p) for p in range(2, pickle.HIGHEST_PROTOCOL + 1)] + [
        dumped(value)
    ]


@pytest.mark.parametrize("number", VALUES + SPECIAL)
def test_a_float64_reads_as_what_unpickling_it_gives(number):
    for data in pickles(np.float64(number)):
        value = float64_value(data)
        assert type(value) is float
        assert bits(value) == bits(float(pickle.loads(data)))


def test_random_bit_patterns_read_back_exactly():
    rng = np.random.default_rng(7)
    for raw in rng.integers(0, 2**63, size=200, dtype=np.uint64):
        scalar = np.frombuffer(struct.pack("<Q", int(raw)), "<f8")[0]
        value = float64_value(pickle.dumps(scalar))
        assert bits(value) == scalar.tobytes()


def test_a_big_endian_dtype_is_read_in_its_byte_order():
    data = pickle.dumps(np.float64(1.5), protocol=4)
    raw = np.float64(1.5).tobytes()
    swapped = data.replace(b"\x8c\x01<", b"\x8c\x01>").replace(raw, raw[::-1])
    assert swapped != data
    assert float(pickle.loads(swapped)) == 1.5  # what NumPy makes of it
    assert float64_value(swapped) == 1.5


def test_numpy_1s_module_name_is_read_too():
    data = pickle.dumps(np.float64(2.5), protocol=2).replace(
        b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    )
    assert float64_value(data) == 2.5


@pytest.mark.parametrize(
    "value",
    [
        1.5,  # a plain float: read the usual way (it needs no NumPy)
        np.float32(1.5),
        np.float16(1.5),
        np.int64(3),
        np.longdouble(1.5),
        np.complex128(1 + 2j),
        np.array([1.5]),
        np.array(1.5),
        [np.float64(1.5)],
        (np.float64(1.5), np.float64(2.5)),
        {"x": np.float64(1.5)},
        np.dtype("f8"),
        "1.5",
        None,
    ],
    ids=repr,
)
def test_anything_else_is_not_a_float64(value):
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert float64_value(pickle.dumps(value, protocol=protocol)) is None
    assert float64_value(dumped(value)) is None


class Planted:
    """What an attacker writes: unpickling it would run a command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    for data in (pickle.dumps(Planted(marker)), pickle.dumps((np.float64(1), Planted(marker)))):
        assert float64_value(data) is None
    assert not marker.exists()


def test_damaged_or_other_bytes_are_not_a_float64():
    good = pickle.dumps(np.float64(1.5))
    for data in (b"", b"1.5", good[:-1], good[:20], good.replace(b"f8", b"f4"), b"\x80\x05N."):
        assert float64_value(data) is None


def test_reading_imports_nothing():
    code = (
        "import pickle, sys; from superbatch.contract.float64s import float64_value; "
        "before = set(sys.modules); v = float64_value(sys.stdin.buffer.read()); "
        "print(v, sorted(set(sys.modules) - before))"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(np.float64(0.75)),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split() == ["0.75", "[]"]


def test_a_kept_template_reads_only_what_fills_it_in():
    """Once a float64 is read, the bytes around its number are a template: an int64 pickled
    the same way is as long and differs only in its dtype, and is still not a float64."""
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert float64_value(pickle.dumps(np.float64(3.5), protocol=protocol)) == 3.5
        assert float64_value(pickle.dumps(np.float64(-7.25), protocol=protocol)) == -7.25
        other = pickle.dumps(np.int64(5), protocol=protocol)
        assert len(other) == len(pickle.dumps(np.float64(3.5), protocol=protocol))
        assert float64_value(other) is None
