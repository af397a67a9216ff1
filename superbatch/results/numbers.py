"""Reducing outputs that are NumPy float64 scalars without importing NumPy.

A worker that returns one number a point usually returns a NumPy float64 (``sum(a ** 3)``).
Unpickling those imports NumPy, which costs a ``collect`` of a few points more than the rest
of its start-up. When the result is only printed or written as JSON or CSV, a built-in
reducer gives the same text from the numbers as Python floats (``reduce.OF_FLOAT64S``), so
collect tries that first: each output is read by ``contract.float64s``, and at the first one
that is anything else (or cannot be read), it stops and the outputs are read the usual way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from superbatch.backends.base import Backend
from superbatch.contract.float64s import float64_value
from superbatch.results.reduce import Reduction

NOT_FLOAT64S = object()
TEXT_SUFFIXES = (".json", ".csv")


class _Other(Exception):
    pass


def reduce_float64s(
    reduction: Reduction,
    backend: Backend,
    fmt: str,
    points: int,
    missing: list[int],
    path: Path | None,
) -> Any:
    """The result, if every output is a float64 scalar and the result only needs numbers
    (printed, or written to ``path`` as JSON or CSV); else ``NOT_FLOAT64S``."""
    if reduction.of_float64s is None or fmt != "joblib":
        return NOT_FLOAT64S
    if path is not None and path.suffix.lower() not in TEXT_SUFFIXES:
        return NOT_FLOAT64S
    try:
        return reduction.of_float64s(_numbers(backend, points, set(missing)))
    except Exception:  # noqa: BLE001 - read the usual way, which says what went wrong
        return NOT_FLOAT64S


def _numbers(backend: Backend, points: int, absent: set[int]) -> Iterator[float]:
    for index in range(points):
        if index in absent:
            continue
        data = backend.read_output(index)
        value = None if data is None else float64_value(data)
        if value is None:
            raise _Other
        yield value
