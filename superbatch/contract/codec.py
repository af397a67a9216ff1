"""Encoding of the global config, task inputs and outputs: joblib (pickle) or JSON."""

from __future__ import annotations

import io
import json
import math
import sys
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to plain JSON types."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    np = sys.modules.get("numpy")  # a numpy value implies numpy is imported already
    if np is not None:
        if isinstance(value, np.ndarray):
            return [to_jsonable(v) for v in value.tolist()]
        if isinstance(value, np.generic):
            return to_jsonable(value.item())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


class Codec:
    """Encodes and decodes the contract's files for one format."""

    name = ""

    def dumps(self, value: Any) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError

    def loads(self, data: bytes, allow: tuple[str, ...] = ()) -> Any:  # pragma: no cover
        """Decode an output; ``allow`` widens what a pickle may reference (safepickle)."""
        raise NotImplementedError


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None), bytes, complex})
_PLAIN_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def _plain(value: Any, depth: int = 0) -> bool:
    """Built only of builtin scalars and containers (exact types), not too deep."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind not in _PLAIN_CONTAINERS or depth > 50:
        return False
    items = value.items() if kind is dict else ((v, None) for v in value)
    return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in items)


class JoblibCodec(Codec):
    name = "joblib"

    def dumps(self, value: Any) -> bytes:
        if _plain(value):
            # joblib's pickler is the pure-Python one; for builtin values the C pickler at
            # the same protocol writes the same bytes, ~25x faster (tests/unit/test_codec_bytes.py).
            import pickle

            return pickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)
        import joblib

        buf = io.BytesIO()
        joblib.dump(value, buf)
        return buf.getvalue()

    def loads(self, data: bytes, allow: tuple[str, ...] = ()) -> Any:
        from superbatch.contract import safepickle

        return safepickle.load(data, allow)


class JsonCodec(Codec):
    name = "json"

    def dumps(self, value: Any) -> bytes:
        return json.dumps(to_jsonable(value), separators=(",", ":")).encode()

    def loads(self, data: bytes, allow: tuple[str, ...] = ()) -> Any:
        return json.loads(data.decode("utf-8"))


def get_codec(fmt: str) -> Codec:
    """The codec for a spec's ``worker.format``."""
    return {"joblib": JoblibCodec, "json": JsonCodec}[fmt]()


def json_problem(value: Any, loc: tuple = ()) -> tuple[tuple, str] | None:
    """Where ``value`` holds something a JSON worker could not read, and what; else None."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (loc, f"{value} is not a JSON number")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = json_problem(item, loc + (index,))
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return loc + (key,), f"the key {key!r} is not a string"
            found = json_problem(item, loc + (key,))
            if found:
                return found
        return None
    if hasattr(value, "json_problem"):  # inline points (superbatch.spec.sequences.PointList)
        return value.json_problem(loc)
    return loc, f"a {type(value).__name__} ({value!r}) has no JSON form"
