"""The parameter grid: every point of the loop, streamed in a fixed order.

A grid is counted without being materialised, and its points are produced lazily, so a
1,000,000-point sweep validates in constant memory.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from superbatch.errors import SpecError
from superbatch.spec.axes import ZipAxis, axis_values
from superbatch.spec.load import Spec

Point = dict[str, Any]
CSV_FIELD_LIMIT = 16 * 1024 * 1024  # the csv module's default is 128 KiB per cell


def _csv():
    import csv  # only points files need it (not imported at every start-up)

    csv.field_size_limit(CSV_FIELD_LIMIT)
    return csv


class Grid:
    """The points of a spec, in order. ``len()`` is cheap; iteration is streamed."""

    def __init__(self, spec: Spec):
        self.spec = spec
        m = spec.model
        self._axes: list[tuple[tuple[str, ...], list[Sequence]]] = []
        self._file: Path | None = None
        if m.parameters is not None:
            for key, param in m.parameters.items():
                if isinstance(param, ZipAxis):
                    names = tuple(param.zip)
                    self._axes.append((names, [axis_values(a) for a in param.zip.values()]))
                else:
                    self._axes.append(((key,), [axis_values(param)]))
            self._count = self._product_size(spec)
        elif m.points is not None:
            self._count = len(m.points)
        else:
            assert m.points_file is not None  # the spec has parameters, points or a file
            self._file = spec.resolve(m.points_file)
            self._count = sum(self._read_file(count=True))
        if self._count == 0:
            raise SpecError(
                f"{spec.where(*self._grid_key())}: the grid has no points; "
                f"every parameter needs at least one value."
            )
        ceiling = m.tasks.max_points
        if self._count > ceiling:
            raise SpecError(
                f"{spec.where(*self._grid_key())}: the grid has {self._count:,} "
                f"points, more than tasks.max_points ({ceiling:,}); raise "
                f"tasks.max_points if you mean it."
            )

    def _product_size(self, spec: Spec) -> int:
        """The product of the axes' lengths (an axis too long to count is named)."""
        total = 1
        for names, cols in self._axes:
            try:
                size = len(cols[0])
            except (OverflowError, ValueError):
                raise SpecError(
                    f"{spec.where('parameters', names[0])}: parameters."
                    f"{names[0]}: the range has more values than can be counted "
                    f"(more than {sys.maxsize:,})."
                ) from None
            total *= size
        return total

    def _grid_key(self) -> tuple:
        m = self.spec.model
        return (
            ("parameters",)
            if m.parameters is not None
            else (("points",) if m.points is not None else ("points_file",))
        )

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Point]:
        return self.points()

    def points(self, start: int = 0, stop: int | None = None) -> Iterator[Point]:
        """Points ``start`` to ``stop`` (exclusive), in grid order."""
        stop = self._count if stop is None else min(stop, self._count)
        if start >= stop:
            return iter(())
        if self._axes:
            return self._product(start, stop)
        if self.spec.model.points is not None:
            return self.spec.model.points.iter(start, stop)
        if self._file is not None:
            return itertools.islice(self._read_file(), start, stop)
        return iter([{}] * (stop - start))  # no parameters at all: one empty point

    def _product(self, start: int, stop: int) -> Iterator[Point]:
        # The last parameter varies fastest, as in nested for-loops written in spec order.
        # Index arithmetic (not itertools.product) lets us start anywhere without replaying.
        sizes = [len(cols[0]) for _, cols in self._axes]
        for index in range(start, stop):
            point: Point = {}
            rem = index
            digits = []
            for size in reversed(sizes):
                rem, d = divmod(rem, size)
                digits.append(d)
            for (names, cols), d in zip(self._axes, reversed(digits)):
                for name, col in zip(names, cols):
                    point[name] = col[d]
            yield point

    def _read_file(self, count: bool = False) -> Iterator:
        """The file's points; with ``count``, the number of rows (checked, not converted)."""
        path = self._file
        assert path is not None
        where = self.spec.where("points_file")
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".jsonl"):
            raise SpecError(
                f"{where}: points_file: {path.name} must be .csv (with a header "
                f"row) or .jsonl (one JSON object per line)."
            )
        try:
            handle = path.open(newline="", encoding="utf-8-sig")  # a byte-order mark is not data
        except OSError as exc:
            raise SpecError(
                f"{where}: points_file: cannot read {path} ({exc.strerror or exc})."
            ) from None
        with handle:
            try:
                if suffix == ".csv" and count:
                    yield _csv_count(handle, path)
                elif suffix == ".csv":
                    yield from _csv_points(handle, path)
                elif count:
                    yield sum(1 for _ in _jsonl_points(handle, path))
                else:
                    yield from _jsonl_points(handle, path)
            except UnicodeDecodeError as exc:
                raise SpecError(
                    f"{path}: points_file: not UTF-8 text (byte {exc.start} of a "
                    f"line); save it as UTF-8."
                ) from None
            except OSError as exc:
                raise SpecError(
                    f"{where}: points_file: cannot read {path} ({exc.strerror or exc})."
                ) from None


def _scalar(text: str) -> Any:
    """A CSV cell as int, float or (otherwise) string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_points(handle, path: Path) -> Iterator[Point]:
    csv = _csv()
    reader = csv.reader(handle)
    try:
        yield from _csv_rows(reader, path)
    except csv.Error as exc:
        raise SpecError(
            f"{path}, line {reader.line_num}: points_file: not valid CSV ({exc})."
        ) from None


def _csv_header(reader, path: Path) -> list[str]:
    header = next(reader, None)
    if not header or any(not h.strip() for h in header):
        raise SpecError(f"{path}, line 1: points_file: the first row must name every column.")
    return [h.strip() for h in header]


def _csv_rows(reader, path: Path) -> Iterator[Point]:
    header = _csv_header(reader, path)
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise SpecError(
                f"{path}, line {reader.line_num}: points_file: {len(row)} values "
                f"for {len(header)} columns ({', '.join(header)})."
            )
        yield {h: _scalar(v) for h, v in zip(header, row)}


def _csv_count(handle, path: Path) -> int:
    """The rows of a CSV points file, each checked as ``_csv_rows`` checks it; the cells are
    not converted (counting a million rows is then a matter of the csv module alone)."""
    csv = _csv()
    reader = csv.reader(handle)
    try:
        width = len(_csv_header(reader, path))
        widths = Counter(map(len, reader))
    except csv.Error as exc:
        raise SpecError(
            f"{path}, line {reader.line_num}: points_file: not valid CSV ({exc})."
        ) from None
    if set(widths) - {0, width}:  # a row of another width: read again to say which
        handle.seek(0)
        for _ in _csv_points(handle, path):
            pass
    return widths[width]


def _jsonl_points(handle, path: Path) -> Iterator[Point]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            point = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"{path}, line {number}, column {exc.colno}: points_file: invalid JSON ({exc.msg})."
            ) from None
        except RecursionError:
            raise SpecError(f"{path}, line {number}: points_file: nested too deeply.") from None
        if not isinstance(point, dict):
            raise SpecError(
                f"{path}, line {number}: points_file: each line must be a JSON "
                f'object such as {{"seed": 1}}.'
            )
        yield point
