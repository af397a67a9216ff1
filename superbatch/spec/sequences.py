"""Lazy numeric sequences for grid axes (nothing is materialised), and inline points held
compactly."""

from __future__ import annotations

import bisect
import decimal
import math
from array import array
from collections.abc import Iterator, Sequence


def written_decimals(value: float) -> int:
    """How many decimals ``value`` has as written (its shortest repr): 0.1 -> 1, 2.5e-3 -> 4."""
    exponent = decimal.Decimal(repr(float(value))).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


class FloatRange(Sequence):
    """Like ``range`` for floats: start, start+step, ... while before stop.

    Values are rounded to the decimals of start and step as written, so steps of 0.1 give
    0.3, not 0.30000000000000004 (the float sum's rounding error, which is not what the user
    asked for)."""

    def __init__(self, start: float, stop: float, step: float):
        self.start, self.stop, self.step = start, stop, step
        self._decimals = max(written_decimals(start), written_decimals(step))
        self._len = max(0, math.ceil((stop - start) / step))
        # (0.2 - 0.05) / 0.05 is 3.0000000000000004: drop a last value that is the stop
        while self._len and not self._before_stop(self._value(self._len - 1)):
            self._len -= 1

    def _value(self, i: int) -> float:
        return round(self.start + i * self.step, self._decimals)

    def _before_stop(self, value: float) -> bool:
        return value < self.stop if self.step > 0 else value > self.stop

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        return self._value(i)


class Linspace(Sequence):
    """``count`` evenly spaced values from start to stop inclusive (as numpy.linspace)."""

    def __init__(self, start: float, stop: float, count: int):
        self.start, self.stop, self.size = float(start), float(stop), count
        self.step = (self.stop - self.start) / (count - 1) if count > 1 else 0.0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(i)
        if i == self.size - 1 and self.size > 1:
            return self.stop
        return self.start + i * self.step


class PointList(Sequence):
    """The points of an inline ``points:`` list, held compactly.

    A run of points with the same keys is kept as one column per key (an int64 or float
    array when every value is one), anything else as the mappings themselves. Indexing and
    iteration give a new ``dict`` per point; a million points take tens of MiB, not hundreds.
    """

    __slots__ = ("_segments", "_starts", "_len")

    def __init__(self, segments: list | None = None):
        # each segment: (keys, columns) or a list of dicts
        self._segments = [s for s in segments or () if _segment_len(s)]
        self._starts = []
        total = 0
        for segment in self._segments:
            self._starts.append(total)
            total += _segment_len(segment)
        self._len = total

    @classmethod
    def from_rows(cls, rows: list) -> PointList:
        """Points given as mappings (e.g. read back from JSON): runs of at least
        COMPACT_RUN mappings with the same keys become columns, the rest stays as it is."""
        segments: list = []
        loose: list = []
        start = 0
        while start < len(rows):
            first = rows[start]
            keys = tuple(first) if type(first) is dict else None
            end = start + 1
            if keys:
                while end < len(rows) and type(rows[end]) is dict and tuple(rows[end]) == keys:
                    end += 1
            if keys and end - start >= COMPACT_RUN:
                if loose:
                    segments.append(loose)
                    loose = []
                run = rows[start:end]
                segments.append((keys, [_column([r[k] for r in run]) for k in keys]))
            else:
                loose.extend(rows[start:end])
            start = end
        if loose:
            segments.append(loose)
        return cls(segments)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step == 1:
                return list(self.iter(start, stop))
            return [self[j] for j in range(start, stop, step)]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        segment, offset = self._segments[k], i - self._starts[k]
        if isinstance(segment, list):
            return segment[offset]
        keys, columns = segment
        return dict(zip(keys, [c[offset] for c in columns]))

    def __iter__(self) -> Iterator[dict]:
        return self.iter()

    def iter(self, start: int = 0, stop: int | None = None) -> Iterator[dict]:
        """Points ``start`` to ``stop`` (exclusive), in order, one at a time."""
        stop = self._len if stop is None else min(stop, self._len)
        k = max(0, bisect.bisect_right(self._starts, start) - 1)
        while start < stop and k < len(self._segments):
            segment, first = self._segments[k], self._starts[k]
            end = min(stop, first + _segment_len(segment))
            if isinstance(segment, list):
                yield from segment[start - first : end - first]
            else:
                keys, columns = segment
                for a in range(start - first, end - first, 4096):
                    b = min(a + 4096, end - first)
                    for values in zip(*[c[a:b] for c in columns]):
                        yield dict(zip(keys, values))
            start, k = end, k + 1

    def __eq__(self, other) -> bool:
        if not isinstance(other, (PointList, list, tuple)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PointList({self._len} points)"

    def is_plain(self) -> bool:
        """Every point a mapping with string keys (columns are, by construction)."""
        return all(
            isinstance(p, dict) and all(isinstance(k, str) for k in p)
            for segment in self._segments
            if isinstance(segment, list)
            for p in segment
        )

    def json_problem(self, loc: tuple) -> tuple[tuple, str] | None:
        """Where a point holds something a JSON worker could not read (see codec)."""
        from superbatch.contract.codec import json_problem

        for segment, first in zip(self._segments, self._starts):
            if isinstance(segment, list):
                for offset, point in enumerate(segment):
                    found = json_problem(point, loc + (first + offset,))
                    if found:
                        return found
                continue
            keys, columns = segment
            for key, column in zip(keys, columns):
                if isinstance(column, array) and column.typecode == "q":
                    continue
                if isinstance(column, array) and all(map(math.isfinite, column)):
                    continue
                for offset, value in enumerate(column):
                    found = json_problem(value, loc + (first + offset, key))
                    if found:
                        return found
        return None


COMPACT_RUN = 64


def _column(values: list):
    """Values as an int64 or float array when every one is exactly that type, else a list."""
    kinds = set(map(type, values))
    if kinds == {int}:
        try:
            return array("q", values)
        except OverflowError:
            return values
    if kinds == {float}:
        return array("d", values)
    return values


def _segment_len(segment) -> int:
    if isinstance(segment, list):
        return len(segment)
    keys, columns = segment
    return len(columns[0]) if columns else 0
