"""Lazy numeric sequences for grid axes (nothing is materialised)."""

from __future__ import annotations

import math
from collections.abc import Sequence


class FloatRange(Sequence):
    """Like ``range`` for floats: start, start+step, ... while before stop."""

    def __init__(self, start: float, stop: float, step: float):
        self.start, self.stop, self.step = start, stop, step
        self._len = max(0, math.ceil((stop - start) / step))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        return self.start + i * self.step


class Linspace(Sequence):
    """``count`` evenly spaced values from start to stop inclusive (as numpy.linspace)."""

    def __init__(self, start: float, stop: float, count: int):
        self.start, self.stop, self.count = float(start), float(stop), count
        self.step = (self.stop - self.start) / (count - 1) if count > 1 else 0.0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.count))]
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(i)
        if i == self.count - 1 and self.count > 1:
            return self.stop
        return self.start + i * self.step
