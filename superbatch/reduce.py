"""Reducers: combine the outputs of every point, in point order, into one result.

``sum``, ``mean``, ``min`` and ``max`` stream in constant memory; ``list``, ``stack`` and
``concat`` keep every value; ``module:function`` receives the list of values.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from superbatch.errors import UserError


class Reducer:
    """Feed values with :meth:`add` in point order; read :meth:`result` at the end."""

    def add(self, value: Any) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def result(self) -> Any:  # pragma: no cover - interface
        raise NotImplementedError


class Sum(Reducer):
    # 0 + v1 + v2 ... exactly as Python's sum(), so results match the user's loop bit for bit.
    def __init__(self):
        self.total: Any = 0

    def add(self, value):
        self.total = self.total + value

    def result(self):
        return self.total


class Mean(Reducer):
    def __init__(self):
        self.total: Any = 0
        self.count = 0

    def add(self, value):
        self.total = self.total + value
        self.count += 1

    def result(self):
        return self.total / self.count if self.count else None


class Extreme(Reducer):
    def __init__(self, pick: Callable):
        self.pick = pick
        self.best: Any = None

    def add(self, value):
        self.best = value if self.best is None else self.pick(self.best, value)

    def result(self):
        return self.best


class Collect(Reducer):
    """Keeps every value; ``finish`` turns the list into the result."""

    def __init__(self, finish: Callable[[list], Any] = lambda values: values):
        self.values: list = []
        self.finish = finish

    def add(self, value):
        self.values.append(value)

    def result(self):
        return self.finish(self.values)


def _stack(values: list) -> Any:
    import numpy as np

    return np.stack([np.asarray(v) for v in values]) if values else np.empty((0,))


def _concat(values: list) -> Any:
    import numpy as np

    if all(isinstance(v, list) for v in values):
        return [item for v in values for item in v]
    return np.concatenate([np.atleast_1d(np.asarray(v)) for v in values]) if values else []


def _elementwise(pick_name: str) -> Callable:
    def pick(a, b):
        import numpy as np

        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return getattr(np, "minimum" if pick_name == "min" else "maximum")(a, b)
        return min(a, b) if pick_name == "min" else max(a, b)

    return pick


def load_function(reference: str, search_paths: list[Path]) -> Callable:
    """Import ``module:function``, looking in ``search_paths`` (the spec's directory) first."""
    module_name, _, function_name = reference.partition(":")
    for path in reversed(search_paths):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"collect.reduce: cannot import module {module_name!r} ({exc}); it "
                        f"must be importable from the spec's directory or the Python path.") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UserError(f"collect.reduce: module {module_name!r} has no function "
                        f"{function_name!r}.")
    return function


def make_reducer(name: str, search_paths: list[Path] | None = None) -> Reducer | None:
    """The reducer for ``collect.reduce``; None for ``none`` (outputs are left as files)."""
    if name == "none":
        return None
    builtins: dict[str, Callable[[], Reducer]] = {
        "sum": Sum,
        "mean": Mean,
        "min": lambda: Extreme(_elementwise("min")),
        "max": lambda: Extreme(_elementwise("max")),
        "list": Collect,
        "stack": lambda: Collect(_stack),
        "concat": lambda: Collect(_concat),
    }
    if name in builtins:
        return builtins[name]()
    return Collect(load_function(name, search_paths or []))
