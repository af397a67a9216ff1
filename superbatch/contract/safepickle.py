"""Loading workers' joblib/pickle outputs without letting them run code on this machine.

A pickle can name any importable callable and have the loader call it, so an output that
someone other than the worker wrote could run code on the machine that collects. Outputs are
therefore loaded by joblib's own unpickler restricted to an allow-list: plain Python values,
the standard library's value types, and NumPy arrays, scalars and dtypes. A worker that
returns other objects lists them in ``collect.allow_pickle`` (``module.Name`` or
``module.*``), for whoever can write the job's storage is then trusted with those.
"""

from __future__ import annotations

import fnmatch
import io
import pickle
from collections.abc import Iterable
from typing import Any

from superbatch.taskrunner import scalars

ALLOWED = {
    "builtins": {
        "complex",
        "set",
        "frozenset",
        "bytearray",
        "slice",
        "range",
        "bytes",
        "object",
        "int",
        "float",
        "str",
        "list",
        "tuple",
        "dict",
        "bool",
    },
    "_codecs": {"encode"},
    "copyreg": {"_reconstructor"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "datetime": {"date", "time", "datetime", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "uuid": {"UUID", "SafeUUID"},
    "numpy": {
        "ndarray",
        "dtype",
        "bool_",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        "longdouble",
        "clongdouble",
        "str_",
        "bytes_",
        "datetime64",
        "timedelta64",
    },
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.dtypes": {"*"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
}


class UntrustedPickle(Exception):
    """The data names something outside the allow-list."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


def is_allowed(module: str, name: str, extra: Iterable[str] = ()) -> bool:
    names = ALLOWED.get(module)
    if names and (name in names or "*" in names):
        return True
    full = f"{module}.{name}"
    return any(fnmatch.fnmatchcase(full, pattern) for pattern in extra)


def load(data: bytes, extra: Iterable[str] = ()) -> Any:
    """Load joblib (or plain pickle) bytes, refusing anything outside the allow-list."""
    value = scalars.loads(data)  # a NumPy scalar of a type already read: a bytes check
    if value is not scalars.UNKNOWN:
        return value
    extra = tuple(extra)
    if _plain(data):
        value = _PlainRestricted(io.BytesIO(data), extra).load()
        if type(value).__module__ == "numpy":
            scalars.learn_from(value, data[1], _trusted_load)
        return value
    return _joblib_load(data, extra)


def _trusted_load(data: bytes) -> Any:
    """What the allow-list alone (no ``collect.allow_pickle``) lets ``data`` load as."""
    return _PlainRestricted(io.BytesIO(data), ()).load()


def _joblib_load(data: bytes, extra: tuple[str, ...]) -> Any:
    from joblib import numpy_pickle

    class Restricted(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if not is_allowed(module, name, extra):
                raise UntrustedPickle(module, name)
            return super().find_class(module, name)

    # Joblib's reader recognises its compressed formats; the unpickler reads arrays that
    # joblib stored beside the pickle stream. Both are joblib's own (>= 1.5).
    with numpy_pickle._validate_fileobject_and_memmap(io.BytesIO(data), "", None) as (fobj, _):
        return Restricted("", fobj, ensure_native_byte_order=True).load()


def _plain(data: bytes) -> bool:
    """A pickle stream that needs nothing of joblib's: no compression, no array that joblib
    stored beside the stream (``NumpyArrayWrapper``). Read with the standard library's
    unpickler, so collecting a number does not import joblib (its import alone costs more
    than decoding thousands of outputs)."""
    return data[:1] == b"\x80" and b"NumpyArrayWrapper" not in data


class _PlainRestricted(pickle.Unpickler):
    # What each allowed (module, name, allow-list) was found to be: the import machinery
    # costs more than the rest of decoding a small output, and a collect decodes thousands.
    _found: dict[tuple[str, str, tuple[str, ...]], Any] = {}

    def __init__(self, file, extra: tuple[str, ...]):
        super().__init__(file)
        self._extra = extra

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name, self._extra)
        found = self._found.get(key)
        if found is None:
            if not is_allowed(module, name, self._extra):
                raise UntrustedPickle(module, name)
            found = self._found[key] = super().find_class(module, name)
        return found
