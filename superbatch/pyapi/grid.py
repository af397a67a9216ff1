"""``superbatch.grid(seed=range(1000), alpha=[...])``: the spec's parameter grid from Python,
the cartesian product of the axes in the order given (the last varies fastest)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from superbatch.errors import UserError


class Grid:
    """Axes by name; ``map`` sends them as the spec's ``parameters`` (a range stays a range)."""

    def __init__(self, **axes: Iterable):
        if not axes:
            raise UserError("superbatch.grid needs at least one axis (e.g. seed=range(10)).")
        self.axes = {name: _axis(name, values) for name, values in axes.items()}

    def parameters(self) -> dict:
        return dict(self.axes)

    def count(self) -> int:
        return math.prod(
            len(range(*a["range"])) if isinstance(a, dict) else len(a) for a in self.axes.values()
        )

    def __iter__(self):
        import itertools

        names = list(self.axes)
        columns = [range(*a["range"]) if isinstance(a, dict) else a for a in self.axes.values()]
        for values in itertools.product(*columns):
            yield dict(zip(names, values))

    def __len__(self) -> int:
        return self.count()


def grid(**axes: Iterable) -> Grid:
    """The cartesian product of ``axes`` (``seed=range(100), alpha=[0.1, 0.2]``)."""
    return Grid(**axes)


def _axis(name: str, values):
    if isinstance(values, range):
        return {"range": [values.start, values.stop, values.step]}
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise UserError(f"superbatch.grid axis {name!r} must be a range or a list of values.")
    from superbatch.contract.codec import to_jsonable

    listed = to_jsonable(list(values))
    if not listed:
        raise UserError(f"superbatch.grid axis {name!r} has no values.")
    return listed
