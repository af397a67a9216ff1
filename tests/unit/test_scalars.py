"""NumPy scalars pickled and read back through learnt templates (taskrunner/scalars.py):
the bytes are pickle's own, and what collect decodes is what unpickling gives."""

import math
import pickle

import numpy as np
import pytest

from superbatch.contract import safepickle
from superbatch.taskrunner import scalars
from superbatch.taskrunner.function import PICKLE_PROTOCOL, encode

TYPES = [
    np.float64, np.float32, np.float16, np.longdouble, np.int64, np.int32, np.int8,
    np.uint64, np.uint8, np.bool_, np.complex128, np.complex64,
]  # fmt: skip


def values_of(kind):
    if kind is np.bool_:
        return [kind(True), kind(False)]
    info = np.iinfo(kind) if np.issubdtype(kind, np.integer) else None
    if info is not None:
        return [kind(0), kind(1), kind(113), kind(info.max), kind(info.min)]
    values = [kind(0.0), kind(-0.0), kind(1.5), kind(-3.25e-7), kind(math.inf), kind(math.nan)]
    if np.issubdtype(kind, np.complexfloating):
        values.append(kind(complex(2.5, -1.0)))
    return values


@pytest.mark.parametrize("kind", TYPES, ids=lambda k: k.__name__)
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_scalar_pickles_to_exactly_what_pickle_writes(kind, protocol):
    for value in values_of(kind):
        assert scalars.dumps(value, protocol) == pickle.dumps(value, protocol=protocol)


def test_anything_else_goes_through_pickle():
    class Mine(np.float64):  # a subclass pickles its class, not numpy's
        pass

    for value in [1.5, {"a": np.float64(2)}, np.arange(3), Mine(2.0), np.str_("x"), None]:
        assert encode(value, "joblib") == pickle.dumps(value, protocol=PICKLE_PROTOCOL)


@pytest.mark.parametrize("kind", TYPES, ids=lambda k: k.__name__)
def test_collect_reads_back_what_unpickling_gives(kind):
    for value in values_of(kind) * 2:  # the second round through the learnt template
        data = encode(value, "joblib")
        back = safepickle.load(data)
        assert type(back) is type(pickle.loads(data)) is kind
        assert back.tobytes() == value.tobytes()


def test_bytes_that_only_look_like_a_template_are_unpickled():
    safepickle.load(encode(np.float64(1.0), "joblib"))  # learnt
    data = pickle.dumps([1.0, 2.0], protocol=PICKLE_PROTOCOL)
    assert scalars.loads(data) is scalars.UNKNOWN
    assert safepickle.load(data) == [1.0, 2.0]
    crafted = pickle.dumps(("os", "system"), protocol=PICKLE_PROTOCOL)
    assert scalars.loads(crafted) is scalars.UNKNOWN
