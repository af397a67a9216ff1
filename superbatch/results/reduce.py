"""Reducers: combine the outputs of every point, in point order, into one result.

A value reducer is called once with an iterator over the values (streamed: one output
decoded at a time). ``sum`` is the running interpreter's own ``sum()`` over that iterator, so
the result is bit for bit what the user's loop gives (Python 3.12 made float ``sum()``
compensated); ``mean`` is that sum divided by the count; ``min`` and ``max`` fold in constant
memory; ``list``, ``stack`` and ``concat`` keep every value. ``module:function`` receives the
list of values, or ``(points, values)`` when it takes two arguments. ``table`` and ``grid``
place each output beside its parameters (tables.py, ndgrid.py).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from superbatch.errors import UserError

Reducer = Callable[[Iterator[Any]], Any]


def _sum(values: Iterator[Any]) -> Any:
    return sum(values)


def _add_in_turn(values: Iterator[Any]) -> Any:
    """What ``sum()`` gives for NumPy float64 values, of their numbers as Python floats: one
    addition after another, from 0 (``sum()`` compensates exact floats only, from 3.12)."""
    total: Any = 0
    for value in values:
        total = total + value
    return total


def _mean_by(add: Reducer) -> Reducer:
    """The mean: ``add`` of the values over their count (None for none)."""

    def mean(values: Iterator[Any]) -> Any:
        count = 0

        def counted() -> Iterator[Any]:
            nonlocal count
            for value in values:
                count += 1
                yield value

        total = add(counted())
        return total / count if count else None

    return mean


def _fold(name: str) -> Reducer:
    def pick(a, b):
        np = sys.modules.get("numpy")  # an array implies NumPy is imported already
        if np is not None and (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
            return (np.minimum if name == "min" else np.maximum)(a, b)
        return min(a, b) if name == "min" else max(a, b)

    def reduce(values: Iterator[Any]) -> Any:
        best: Any = None
        first = True
        for value in values:
            best, first = (value if first else pick(best, value)), False
        return best

    return reduce


def _list(values: Iterator[Any]) -> Any:
    return list(values)


def _stack(values: Iterator[Any]) -> Any:
    import numpy as np

    arrays = [np.asarray(v) for v in values]
    return np.stack(arrays) if arrays else np.empty((0,))


def _concat(values: Iterator[Any]) -> Any:
    import numpy as np

    items = list(values)
    if all(isinstance(v, list) for v in items):
        return [item for v in items for item in v]
    return np.concatenate([np.atleast_1d(np.asarray(v)) for v in items]) if items else []


BUILTINS: dict[str, Reducer] = {
    "sum": _sum,
    "mean": _mean_by(_sum),
    "min": _fold("min"),
    "max": _fold("max"),
    "list": _list,
    "stack": _stack,
    "concat": _concat,
}

# The built-in reducers whose result, printed or written as JSON or CSV, is the same when
# outputs that are NumPy float64 scalars are given as the Python floats they hold (so that
# collecting them need not import NumPy: results/numbers.py).
OF_FLOAT64S: dict[str, Reducer] = {
    "sum": _add_in_turn,
    "mean": _mean_by(_add_in_turn),
    "min": BUILTINS["min"],
    "max": BUILTINS["max"],
    "list": _list,
}


def load_function(reference: str, search_paths: list[Path]) -> Callable:
    """Import ``module:function``, looking in ``search_paths`` (the spec's directory) first.

    Any failure (missing module, syntax error, an exception at import) is a UserError.
    """
    module_name, _, function_name = reference.partition(":")
    for path in reversed(search_paths):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"collect.reduce: cannot import module {module_name!r} ({exc}); it "
            f"must be importable from the spec's directory or the Python "
            f"path."
        ) from None
    except SyntaxError as exc:
        raise UserError(
            f"collect.reduce: module {module_name!r} has a syntax error "
            f"({exc.filename}, line {exc.lineno}: {exc.msg})."
        ) from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed while importing
        raise UserError(
            f"collect.reduce: importing module {module_name!r} failed "
            f"({type(exc).__name__}: {exc})."
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise UserError(
            f"collect.reduce: module {module_name!r} has no function {function_name!r}."
        )
    return function


class Reduction(NamedTuple):  # not a dataclass: made at every start-up, ~0.5 ms less
    """What ``collect.reduce`` asks for: ``kind`` is ``values`` (``function(values)``),
    ``points`` (``function(points, values)``), ``table``, ``grid`` or ``none``."""

    name: str
    kind: str
    function: Callable | None = None
    of_float64s: Reducer | None = None  # the same result from float64 outputs as floats

    def __call__(self, values: Iterator[Any]) -> Any:
        """A value reduction applied to the values (only for ``kind == "values"``)."""
        assert self.function is not None, f"{self.name} is not a value reduction"
        return self.function(values)


def _wants_points(function: Callable) -> bool:
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) >= 2 or (
        len(positional) >= 2 and any(p.kind == p.VAR_POSITIONAL for p in params)
    )


def make_reducer(name: str, search_paths: list[Path] | None = None) -> Reduction:
    """The reduction for ``collect.reduce`` (a custom module is imported: UserError if not)."""
    if name in ("none", "table", "grid"):
        return Reduction(name, name)
    if name in BUILTINS:
        return Reduction(name, "values", BUILTINS[name], OF_FLOAT64S.get(name))
    function = load_function(name, search_paths or [])
    if _wants_points(function):
        return Reduction(name, "points", function)
    return Reduction(name, "values", lambda values: function(list(values)))
