"""Writing and printing a reduced result."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from superbatch.contract.codec import to_jsonable
from superbatch.errors import UserError
from superbatch.util.files import atomic_write_bytes


def format_value(value: Any) -> str:
    """The result as one line: a number as Python prints it, anything else as JSON (or, for
    objects JSON cannot hold, as Python shows them)."""
    plain = to_jsonable(value)
    if isinstance(plain, float):
        return repr(plain)
    if isinstance(plain, (int, str)) and not isinstance(plain, bool):
        return str(plain)
    try:
        return json.dumps(plain)
    except (TypeError, ValueError):
        return repr(value)


def _csv_bytes(value: Any) -> bytes:
    import csv

    plain = to_jsonable(value)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if isinstance(plain, list) and plain and all(isinstance(r, dict) for r in plain):
        fields = list(dict.fromkeys(k for r in plain for k in r))
        writer.writerow(fields)
        writer.writerows([[r.get(f, "") for f in fields] for r in plain])
    elif isinstance(plain, list):
        for row in plain:
            writer.writerow(row if isinstance(row, list) else [row])
    else:
        writer.writerow([plain])
    return buf.getvalue().encode()


def _encode(value: Any, suffix: str) -> bytes:
    if suffix == ".json":
        return (json.dumps(to_jsonable(value), indent=2) + "\n").encode()
    if suffix == ".npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        return buf.getvalue()
    if suffix == ".pkl":
        import pickle

        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except pickle.PicklingError as exc:
            raise TypeError(str(exc)) from None
    if suffix == ".csv":
        return _csv_bytes(value)
    raise ValueError(f"unsupported result format {suffix!r}")  # the spec refuses others


def write_result(value: Any, path: Path) -> None:
    """Write ``value`` atomically in the format named by ``path``'s extension.

    A value the format cannot hold (objects in .npy, a set in .json, ...) is a UserError
    that says which format would.
    """
    suffix = path.suffix.lower()
    try:
        data = _encode(value, suffix)
    except (TypeError, ValueError, AttributeError) as exc:
        raise UserError(
            f"the result ({type(value).__name__}) cannot be written as {suffix} "
            f"to {path} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"choose another extension (.pkl holds any Python value) and collect "
            f"again: the outputs are kept."
        ) from None
    atomic_write_bytes(path, data)


def check_suffix(path: Path, suffixes: tuple[str, ...], reducer: str, where: str) -> None:
    """A result file of reducer ``reducer`` ends in one of ``suffixes`` (UserError, exit 2)."""
    if path.suffix.lower() not in suffixes:
        raise UserError(
            f"{where}: reduce: {reducer} writes {', '.join(suffixes)}, not "
            f"{path.suffix or 'a file without an extension'} ({path.name})."
        )
