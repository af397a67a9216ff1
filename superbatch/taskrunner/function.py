"""``worker.function: module:function``: a function called once per point.

The module is found in the worker's directory (the job's copy of its files) and imported
once per task runner (with the lazily loaded submodules its code reaches as attributes, as
a script's are preloaded: ``np.random``); each point calls ``function(config, inputs)``
with the decoded config and point, and the return value, encoded with the job's format
(NumPy scalars through ``scalars.py``), is the point's output.
Decoding needs no third-party package unless the files hold what only joblib writes (arrays
in the globals); joblib is then imported, as a worker reading them would.
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import sys
import traceback

from superbatch.taskrunner import scalars
from superbatch.taskrunner.preload import preload_reached
from superbatch.taskrunner.supervise import OutOfTime

PICKLE_PROTOCOL = 4  # superbatch's restricted loader reads it; Python 3.8 writes it


def decode(data: bytes, fmt: str):
    if fmt == "json":
        return json.loads(data.decode("utf-8"))
    if b"joblib" in data:  # joblib's wrappers of numpy arrays: only joblib reads them
        import joblib

        return joblib.load(io.BytesIO(data))
    return pickle.loads(data)


def encode(value, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(value, separators=(",", ":"), default=_plain).encode()
    return scalars.dumps(value, PICKLE_PROTOCOL)


def _plain(value):
    """numpy values (and anything else with ``tolist``) as JSON's lists and numbers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} ({value!r}) has no JSON form")


def load(target: str, directory: str):
    """The function ``module:name`` from ``directory``; raises what importing raises."""
    module_name, _, name = target.partition(":")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module = importlib.import_module(module_name)
    preload_reached(module)
    return getattr(module, name)


def call(function, config, data: bytes, fmt: str, keep) -> int:
    """One point: 0 once ``keep`` took the encoded output, 1 (the traceback on stderr) if
    it raised."""
    try:
        value = function(config, decode(data, fmt))
        encoded = encode(value, fmt)
    except OutOfTime:
        raise
    except BaseException as exc:  # noqa: BLE001 - the point's failure, reported as a script's
        tb = exc.__traceback__
        shown = (tb.tb_next or tb) if tb else None  # from the user's code on, not this frame
        traceback.print_exception(type(exc), exc, shown)
        return 1
    keep(encoded)
    return 0
