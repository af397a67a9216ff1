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
from collections.abc import Iterable
from typing import Any

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
    from joblib import numpy_pickle

    extra = tuple(extra)

    class Restricted(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            if not is_allowed(module, name, extra):
                raise UntrustedPickle(module, name)
            return super().find_class(module, name)

    # Joblib's reader recognises its compressed formats; the unpickler reads arrays that
    # joblib stored beside the pickle stream. Both are joblib's own (>= 1.5).
    with numpy_pickle._validate_fileobject_and_memmap(io.BytesIO(data), "", None) as (fobj, _):
        return Restricted("", fobj, ensure_native_byte_order=True).load()
