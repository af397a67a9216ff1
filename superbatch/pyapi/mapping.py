"""``superbatch.map(fn, points)``: the loop's body over its points as one superbatch job.

The call becomes a spec: the function shipped as a worker directory (shipping.py), the points
as a JSON-lines points file (or the grid's axes as ``parameters``), the globals, and
everything else from ``spec=`` (a YAML file or a dict: pool, storage, tasks...). It is
submitted, waited for and collected like ``superbatch run``, so calling ``map`` again with
the same function, points and globals finds the same job (finished: its results at once;
running: waits for the rest), and every CLI command works on it by ``--job-id``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from superbatch.errors import UserError
from superbatch.pyapi.grid import Grid
from superbatch.pyapi.mapcall import MapCall
from superbatch.pyapi.shipping import describe, ship

PYTHON_DIR = "python"  # under the state directory: specs, functions and points of map calls
ERRORS = ("raise", "collect")


def map(  # noqa: A001 - superbatch.map, as the brief names it
    fn,
    points: Iterable[Mapping] | Grid,
    *,
    globals: Mapping | None = None,  # noqa: A002 - the spec's key
    spec: str | os.PathLike | Mapping | None = None,
    backend: str | None = None,
    state_dir: str | os.PathLike | None = None,
    parallel: int | None = None,
    errors: str = "raise",
    timeout: float | None = None,
) -> list[Any]:
    """Run ``fn(config, point)`` for every point as one superbatch job; the outputs in point
    order. ``errors="collect"`` puts a :class:`PointError` in place of a failed point's output
    instead of raising it."""
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {ERRORS}, not {errors!r}")
    call = prepare(fn, points, globals, spec, state_dir)
    return run_call(call, backend, parallel, errors, timeout)


def prepare(fn, points, globals_, spec, state_dir) -> MapCall:
    """Write the call's spec (and its function and points) under the state directory."""
    base, base_dir = _base_spec(spec)
    root = Path(
        state_dir or os.environ.get("SUPERBATCH_STATE_DIR") or (base_dir / ".superbatch")
    ).resolve()
    python_dir = root / PYTHON_DIR
    document = dict(base)
    document["name"] = base.get("name") or describe(fn)
    from superbatch.backends.registry import prepare_map_worker

    worker = dict(base.get("worker") or {})
    shipped = ship(fn, python_dir / "fn", prepare_map_worker(worker, base_dir))
    document["worker"] = _worker(worker, shipped)
    if globals_ is not None:
        document["globals"] = _plain(dict(globals_), "globals")
    for key in ("parameters", "points", "points_file"):
        document.pop(key, None)
    listed: list[dict] | None = None
    if isinstance(points, Grid):
        document["parameters"] = points.parameters()
        count = points.count()
    else:
        listed = [_plain(dict(p), f"point {i}") for i, p in enumerate(_mappings(points))]
        if not listed:
            raise UserError("superbatch.map was given no points.")
        document["points_file"] = str(_points_file(python_dir / "points", listed))
        count = len(listed)
    # Points are cheap calls: as few tasks as keep the slots busy, unless the spec says.
    tasks = dict(base.get("tasks") or {})
    tasks.setdefault("points_per_task", "auto")
    document["tasks"] = tasks
    document["collect"] = {
        "reduce": "list",
        "allow_pickle": list((base.get("collect") or {}).get("allow_pickle") or []),
    }
    text = yaml.safe_dump(document, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = python_dir / f"{document['name']}-{digest}.yaml"
    if not path.exists():
        from superbatch.util.files import atomic_write_bytes

        atomic_write_bytes(path, text.encode())
    return MapCall(path, root, count, listed)


def run_call(call: MapCall, backend, parallel, errors, timeout) -> list[Any]:
    """Submit (or find) the call's job, wait for it, and read every point's output."""
    from superbatch.pyapi.running import Running

    running = Running(call, backend, parallel)
    running.wait(timeout)
    return running.results(errors)


def _base_spec(spec) -> tuple[dict, Path]:
    """The spec ``map`` fills in, and the directory its relative paths are relative to."""
    if spec is None:
        return {}, Path.cwd()
    if isinstance(spec, Mapping):
        return dict(spec), Path.cwd()
    from superbatch.spec.yamlsource import load_yaml

    path = Path(spec)
    data, _ = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: a job spec is a YAML mapping.")
    return data, path.resolve().parent


def _worker(worker: Mapping, shipped: Path) -> dict:
    """The base spec's worker section (its backends' keys prepared already) running the
    shipped function (``call.py``)."""
    dropped = ("command", "function", "directory", "format")
    kept = {k: v for k, v in worker.items() if k not in dropped}
    # Called by the task runner (no files per point); a fresh process per point, which a
    # function cannot have, runs call.py as a script.
    separate = kept.get("isolation") == "process"
    runs = {"command": "python {worker_dir}/call.py"} if separate else {"function": "call:call"}
    if not separate:  # called in a reused process, as joblib's workers call it
        kept.setdefault("isolation", "task")
    return {**kept, **runs, "directory": str(shipped), "format": "joblib"}


def _mappings(points) -> Iterable[Mapping]:
    if isinstance(points, (str, bytes, Mapping)):
        raise UserError(
            "superbatch.map takes its points as an iterable of mappings ([{'seed': 1}, "
            "...]) or superbatch.grid(...)."
        )
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise UserError(
                f"point {i} is a {type(point).__name__}, not a mapping of parameters "
                f"(e.g. {{'seed': {point!r}}})."
            )
        yield point


def _plain(value, what: str):
    """``value`` as plain JSON types (numpy scalars and arrays become numbers and lists)."""
    from superbatch.contract.codec import to_jsonable

    converted = to_jsonable(value)
    try:
        json.dumps(converted)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"{what} holds a value superbatch cannot put in a job spec ({exc}); points and "
            f"globals are numbers, strings, booleans, lists and mappings."
        ) from None
    return converted


def _points_file(directory: Path, points: list[dict]) -> Path:
    from superbatch.util.files import atomic_write_bytes

    data = "".join(json.dumps(p, sort_keys=True) + "\n" for p in points).encode()
    path = directory / f"{hashlib.sha256(data).hexdigest()[:32]}.jsonl"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    return path
