"""NumPy's numeric scalars pickled at the cost of a bytes join.

``pickle.dumps(numpy.float64(x))`` reduces the scalar and pickles its dtype every time: about
6-9 us, as much as a small point's own work. The bytes differ only in the scalar's raw
value, so a type's pickle is learnt once (protocol 3 on, which pickles bytes as they are),
from two probe values whose raw bytes differ at every position, as the bytes before and
after that value; it is used only if the probes' own pickles are exactly that template
filled in. Every scalar then pickles to the bytes ``pickle.dumps`` gives (a test checks it),
and any other value, or a type whose probes disagree, goes through ``pickle.dumps``.

Collecting reads them back the same way (``loads``): bytes that are exactly a learnt
template filled in are that type's scalar of those raw bytes, which is what unpickling them
gives. A template is learnt there only after the restricted unpickler decoded such a value
(``learn_from``), and its probes are checked to decode through it too.
"""

from __future__ import annotations

import pickle
import sys

NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex
_learnt: dict = {}  # (type, protocol) -> (before, after), or None: pickle it
_readable: dict = {}  # a pickle's length -> [(before, after, type)] that loads reads
_checked: set = set()  # (type, protocol) that learn_from looked at
UNKNOWN = object()


def dumps(value, protocol: int) -> bytes:
    """``pickle.dumps(value, protocol)``, faster for NumPy's numeric scalars."""
    template = _template(type(value), protocol)
    if template is None:
        return pickle.dumps(value, protocol=protocol)
    before, after = template
    return before + value.tobytes() + after


def loads(data: bytes):
    """The scalar ``data`` pickles, if it fills in a template ``learn_from`` learnt;
    else ``UNKNOWN``."""
    for before, after, kind in _readable.get(len(data), ()):
        if data.startswith(before) and data.endswith(after):
            return sys.modules["numpy"].frombuffer(data, kind, 1, len(before))[0]
    return UNKNOWN


def learn_from(value, protocol: int, trusted_load) -> None:
    """Read ``value``'s type (just decoded from a pickle of ``protocol``) through ``loads``
    from now on, if its probes' pickles load back through ``trusted_load`` as themselves."""
    kind = type(value)
    if (kind, protocol) in _checked:
        return
    _checked.add((kind, protocol))
    template = _template(kind, protocol)
    if template is None:
        return
    before, after = template
    numpy = sys.modules["numpy"]
    for probe in (kind(0), kind(1)):
        try:
            back = trusted_load(before + probe.tobytes() + after)
        except Exception:  # noqa: BLE001 - not for the restricted loader: never learnt
            return
        if type(back) is not kind or back.tobytes() != probe.tobytes():
            return
    size = len(before) + numpy.dtype(kind).itemsize + len(after)
    _readable.setdefault(size, []).append((before, after, kind))


def _template(kind: type, protocol: int):
    key = (kind, protocol)
    template = _learnt.get(key, False)
    if template is False:
        template = _learnt[key] = _learn(kind, protocol)
    return template


def _learn(kind: type, protocol: int):
    numpy = sys.modules.get("numpy")
    if numpy is None or not isinstance(kind, type) or not issubclass(kind, numpy.generic):
        return None
    if kind.__module__ != "numpy":  # a subclass of the user's may pickle itself otherwise
        return None
    if protocol < 3:  # bytes are pickled as text then, of a length that varies
        return None
    try:
        dtype = numpy.dtype(kind)
        if dtype.kind not in NUMERIC_KINDS:
            return None
        if dtype.kind == "b":
            probes = [kind(True), kind(False)]
        else:  # raw bytes that differ at every position, high and low
            raws = [bytes(range(0x80, 0x80 + dtype.itemsize)), bytes(range(1, 1 + dtype.itemsize))]
            probes = [numpy.frombuffer(raw, dtype)[0] for raw in raws]
        pickles = [pickle.dumps(probe, protocol=protocol) for probe in probes]
        raws = [probe.tobytes() for probe in probes]
    except Exception:  # noqa: BLE001 - an unusual type: pickle it as pickle does
        return None
    if raws[0] == raws[1]:
        return None
    at = pickles[0].find(raws[0])
    while at >= 0:  # the value's bytes may also occur earlier, by chance
        before, after = pickles[0][:at], pickles[0][at + len(raws[0]) :]
        if all(before + raw + after == data for raw, data in zip(raws, pickles)):
            return before, after
        at = pickles[0].find(raws[0], at + 1)
    return None
