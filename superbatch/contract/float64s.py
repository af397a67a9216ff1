"""A pickled NumPy ``float64`` scalar read as the number it holds, without importing NumPy.

Importing NumPy costs a ``collect`` more than the rest of its start-up. A result that is only
printed, or written as JSON or CSV, needs the outputs' numbers and not their NumPy type, so
collect first reads the outputs through :func:`float64_value` (``results/numbers.py``). The
bytes are unpickled with stand-ins for the only two names such a pickle references,
``numpy.dtype`` and ``numpy._core.multiarray.scalar``. The stand-ins accept exactly what NumPy
pickles for a float64 (dtype ``f8`` with the state NumPy gives it, and eight raw bytes) and
refuse anything else, so nothing outside that shape is ever called.
"""

from __future__ import annotations

import codecs
import io
import pickle
import struct

_SCALAR_MODULES = frozenset({"numpy._core.multiarray", "numpy.core.multiarray"})
# numpy.dtype's pickled state after its version (3) and byte order: no subarray, no fields,
# no field names, the element size and alignment of a fixed-size type, no flags.
_F8_STATE_TAIL = (None, None, None, -1, -1, 0)


class _NotFloat64(Exception):
    pass


class _DType:
    """Stands for ``numpy.dtype("f8")`` while unpickling; nothing else is accepted."""

    __slots__ = ("order",)

    def __init__(self, name: object, align: object = False, copy: object = True):
        if name != "f8" or align is not False or copy is not True:
            raise _NotFloat64
        self.order: str | None = None

    def __setstate__(self, state: object) -> None:
        if not (
            type(state) is tuple
            and len(state) == 8
            and state[0] == 3
            and state[1] in ("<", ">")
            and state[2:] == _F8_STATE_TAIL
        ):
            raise _NotFloat64
        self.order = state[1]


class _Reader(pickle.Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.made: float | None = None

    def find_class(self, module: str, name: str) -> object:
        if module == "numpy" and name == "dtype":
            return _DType
        if module in _SCALAR_MODULES and name == "scalar":
            return self._scalar
        if module == "_codecs" and name == "encode":  # how protocol 2 pickles bytes
            return codecs.encode
        raise _NotFloat64

    def _scalar(self, dtype: object, raw: object) -> float:
        if type(dtype) is not _DType or dtype.order is None:
            raise _NotFloat64
        if type(raw) is not bytes or len(raw) != 8:
            raise _NotFloat64
        self.made = struct.unpack(dtype.order + "d", raw)[0]
        return self.made


def float64_value(data: bytes) -> float | None:
    """The number ``data`` holds if it is a pickled NumPy float64 scalar (what unpickling it
    gives, as a Python float); else None."""
    if data[:1] != b"\x80":
        return None
    reader = _Reader(data)
    try:
        value = reader.load()
    except Exception:  # noqa: BLE001 - anything else is read the usual way
        return None
    return value if reader.made is not None and value is reader.made else None
