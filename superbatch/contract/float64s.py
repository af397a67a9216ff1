"""A pickled NumPy ``float64`` scalar read as the number it holds, without importing NumPy.

Importing NumPy costs a ``collect`` more than the rest of its start-up. A result that is only
printed, or written as JSON or CSV, needs the outputs' numbers and not their NumPy type, so
collect first reads the outputs through :func:`float64_value` (``results/numbers.py``). The
bytes are unpickled with stand-ins for the only two names such a pickle references,
``numpy.dtype`` and ``numpy._core.multiarray.scalar``. The stand-ins accept exactly what NumPy
pickles for a float64 (dtype ``f8`` with the state NumPy gives it, and eight raw bytes) and
refuse anything else, so nothing outside that shape is ever called.

A collect reads thousands of outputs written the same way: once one is read, its bytes around
the number are kept as a template (checked with two probe numbers whose bytes differ at every
position, which must read back exactly), and outputs that fill in a kept template are read
with a bytes comparison (as ``taskrunner/scalars.py`` does for NumPy's own scalars).
"""

from __future__ import annotations

import codecs
import io
import struct

try:  # the C unpickler itself: `pickle` (~2 ms to import) is its pure-Python wrapper
    from _pickle import Unpickler
except ImportError:  # pragma: no cover - an interpreter without the C accelerator
    from pickle import Unpickler

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


class _Reader(Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.made: float | None = None
        self.raw = b""
        self.order = ""

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
        self.raw, self.order = raw, dtype.order
        return self.made


_PROBES = (bytes(range(0x80, 0x88)), bytes(range(1, 9)))
_MAX_TEMPLATES = 16
# A pickle's length -> [(the bytes before the number, the bytes after it, its byte order)]
_templates: dict[int, list[tuple[bytes, bytes, str]]] = {}
_kept = 0


def float64_value(data: bytes) -> float | None:
    """The number ``data`` holds if it is a pickled NumPy float64 scalar (what unpickling it
    gives, as a Python float); else None."""
    for before, after, order in _templates.get(len(data), ()):
        if data.startswith(before) and data.endswith(after):
            return struct.unpack_from(order + "d", data, len(before))[0]
    reader = _read(data)
    if reader is None:
        return None
    _learn(data, reader)
    return reader.made


def _read(data: bytes) -> _Reader | None:
    if data[:1] != b"\x80":
        return None
    reader = _Reader(data)
    try:
        value = reader.load()
    except Exception:  # noqa: BLE001 - anything else is read the usual way
        return None
    return reader if reader.made is not None and value is reader.made else None


def _learn(data: bytes, reader: _Reader) -> None:
    global _kept
    if _kept >= _MAX_TEMPLATES:
        return
    at = data.find(reader.raw)
    while at >= 0:  # the number's bytes may also occur earlier, by chance
        before, after = data[:at], data[at + 8 :]
        probes = [_read(before + probe + after) for probe in _PROBES]
        if all(r is not None and r.raw == p for r, p in zip(probes, _PROBES)):
            _templates.setdefault(len(data), []).append((before, after, reader.order))
            _kept += 1
            return
        at = data.find(reader.raw, at + 1)
