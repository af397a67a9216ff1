"""Writing and printing a reduced result."""
from __future__ import annotations

import csv
import io
import json
import pickle
from pathlib import Path
from typing import Any

from superbatch.codec import to_jsonable
from superbatch.state import atomic_write_bytes


def format_value(value: Any) -> str:
    """The result as one line: a number as Python prints it, anything else as JSON."""
    plain = to_jsonable(value)
    if isinstance(plain, float):
        return repr(plain)
    if isinstance(plain, (int, str)) and not isinstance(plain, bool):
        return str(plain)
    return json.dumps(plain)


def _csv_bytes(value: Any) -> bytes:
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


def write_result(value: Any, path: Path) -> None:
    """Write ``value`` atomically in the format named by ``path``'s extension."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = (json.dumps(to_jsonable(value), indent=2) + "\n").encode()
    elif suffix == ".npy":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.asarray(value), allow_pickle=False)
        data = buf.getvalue()
    elif suffix == ".pkl":
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    elif suffix == ".csv":
        data = _csv_bytes(value)
    else:  # the spec model refuses other extensions
        raise ValueError(f"unsupported result format {suffix!r}")
    atomic_write_bytes(path, data)
