"""A Python function as a worker directory: ``function.pkl`` (the function, pickled by value
with cloudpickle when it lives in a script, a notebook or ``__main__``; by reference when it
lives in an installed package) and ``call.py``, which runs it on one point under the worker
file contract. The directory is named by its content, so the same function ships once and
makes the same job identity."""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from pathlib import Path

from superbatch.errors import UserError
from superbatch.util.files import atomic_write_bytes

CALL_FILE = "call.py"
FUNCTION_FILE = "function.pkl"
REQUIREMENTS_FILE = "requirements.txt"
CALL_NEEDS = ("cloudpickle", "joblib")
CALL_SOURCE = '''\
"""superbatch.map's worker: the shipped function on one point (config.pickle, inputs.pickle
in, outputs.pickle out), or ``call(config, point)`` when imported.

The function is loaded as this module is imported (a warm task runner imports it before its
first task), with the submodules its code names of a package that loads them lazily
(``np.random``), which its first call would otherwise import."""

import importlib.util
import os
import pickle
import sys
import types

import cloudpickle  # noqa: F401 - what the pickled function refers to

HERE = os.path.dirname(os.path.abspath(__file__))


def _names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _import_reached(function):
    code = getattr(function, "__code__", None)
    if code is None:
        return
    names = _names(code)
    for module in list(getattr(function, "__globals__", {}).values()):
        lazy = isinstance(module, types.ModuleType) and "__getattr__" in vars(module)
        if not lazy or not hasattr(module, "__path__"):
            continue
        for name in names:
            full = module.__name__ + "." + name
            try:
                if full not in sys.modules and importlib.util.find_spec(full) is not None:
                    importlib.import_module(full)
            except Exception:  # noqa: BLE001 - the first call meets it, as it would
                pass


with open(os.path.join(HERE, "function.pkl"), "rb") as handle:
    _function = pickle.load(handle)
_import_reached(_function)


def call(config, point):
    return _function(config, point)


if __name__ == "__main__":
    import joblib

    joblib.dump(call(joblib.load("config.pickle"), joblib.load("inputs.pickle")), "outputs.pickle")
'''


def ship(fn, root: Path, requirements: bytes = b"") -> Path:
    """The worker directory that runs ``fn`` (made under ``root`` if it is not there yet).

    Its requirements.txt (what code mode installs on the nodes) is ``requirements`` plus the
    cloudpickle and joblib that ``call.py`` needs, at the versions used here."""
    payload = pickled(fn)
    needs = requirements.rstrip(b"\n") + b"\n" if requirements.strip() else b""
    needs += "".join(f"{name}=={_version(name)}\n" for name in CALL_NEEDS).encode()
    digest = hashlib.sha256(payload + b"\0" + needs + b"\0" + CALL_SOURCE.encode()).hexdigest()
    directory = root / digest[:32]
    if not (directory / CALL_FILE).exists():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(directory / FUNCTION_FILE, payload)
        atomic_write_bytes(directory / REQUIREMENTS_FILE, needs)
        atomic_write_bytes(directory / CALL_FILE, CALL_SOURCE.encode())  # last: marks it whole
    return directory


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def pickled(fn) -> bytes:
    """``fn`` as cloudpickle bytes: by value unless its module is installed (site-packages or
    the standard library), where the worker imports it by name."""
    if not callable(fn):
        raise UserError(f"superbatch.map needs a function, not {type(fn).__name__}.")
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - joblib requires it
        raise UserError("superbatch.map needs cloudpickle (`pip install cloudpickle`).") from None
    from superbatch.pyapi import calls

    registered = [m for m in _modules_of(fn) if not _installed(m) and m.__name__ != "__main__"]
    if calls not in registered:  # superbatch itself is not on the nodes
        registered.append(calls)
    for module in registered:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn, protocol=4)
    except Exception as exc:  # noqa: BLE001 - anything the function captures may refuse
        raise UserError(
            f"superbatch.map cannot ship {getattr(fn, '__qualname__', fn)!r}: it (or what it "
            f"captures) cannot be pickled ({type(exc).__name__}: {exc}). Capture plain "
            f"values, or pass them as globals; see docs/python.md."
        ) from None
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _modules_of(fn) -> list:
    """The modules whose code ``fn`` runs: its own, or for shipped calls (calls.py) that
    module and each called function's."""
    from superbatch.pyapi.calls import Calls

    functions = [fn] if not isinstance(fn, Calls) else [f for f, _, _ in fn.calls]
    names = {getattr(f, "__module__", None) or "" for f in functions}
    return [sys.modules[n] for n in sorted(names) if n in sys.modules]


def _installed(module) -> bool:
    """Whether a module comes with the interpreter or an installed package."""
    path = getattr(module, "__file__", None)
    if path is None:
        return module.__name__ in sys.builtin_module_names
    places = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    real = os.path.realpath(path)
    return any(real.startswith(os.path.realpath(p) + os.sep) for p in places)


def describe(fn) -> str:
    """A job name for ``fn``: lowercase letters, digits and '-', from its name."""
    from superbatch.pyapi.calls import Calls

    if isinstance(fn, Calls) and fn.calls:
        fn = fn.calls[0][0]
    batched = getattr(fn, "items", None)  # joblib's BatchedCalls: its first call's function
    if type(fn).__name__ == "BatchedCalls" and batched:
        fn = batched[0][0]
    name = getattr(fn, "__name__", "function")
    if name == "<lambda>":
        name = "lambda"
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "function"
    return cleaned[:40].strip("-") or "function"
