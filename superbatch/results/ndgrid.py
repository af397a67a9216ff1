"""``reduce: grid``: the outputs of a product of parameters as an N-dimensional array.

The array's axes are the spec's ``parameters`` in order (a ``zip`` group is one axis with a
coordinate per zipped key), so ``values[i, j]`` is the output at the i-th value of the first
parameter and the j-th of the second; an array output adds its own axes after them. A
mapping output gives one array per key. Missing outputs (``--allow-missing``) are NaN.
Written as ``.npz`` (``values`` or ``values.<key>``, ``dims``, and ``coord.<name>`` per
coordinate) or, with xarray installed, as netCDF (``.nc``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from superbatch.errors import UserError
from superbatch.results.output import check_suffix
from superbatch.spec.axes import ZipAxis, axis_values
from superbatch.spec.models import JobSpec

GRID_SUFFIXES = (".npz", ".nc")
NETCDF_EXTRA = "superbatch[netcdf]"
MISSING = object()


@dataclass
class Axis:
    name: str
    coords: dict[str, list]  # coordinate name -> values along the axis

    @property
    def size(self) -> int:
        return len(next(iter(self.coords.values())))


@dataclass
class GridResult:
    axes: list[Axis]
    arrays: dict[str, Any] = field(default_factory=dict)  # "values" or "values.<key>"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    def summary(self) -> dict:
        return {
            "dims": {a.name: a.size for a in self.axes},
            "arrays": {k: list(v.shape) for k, v in self.arrays.items()},
        }

    def json(self) -> dict:
        """Everything, for printing: dims, coordinates, and the arrays as nested lists."""
        from superbatch.contract.codec import to_jsonable

        return {
            "dims": [a.name for a in self.axes],
            "coords": {
                name: to_jsonable(values) for a in self.axes for name, values in a.coords.items()
            },
            **{name: to_jsonable(array) for name, array in self.arrays.items()},
        }


def grid_axes(spec: JobSpec) -> list[Axis]:
    axes = []
    for name, axis in (spec.parameters or {}).items():
        if isinstance(axis, ZipAxis):
            axes.append(Axis(name, {k: list(axis_values(v)) for k, v in axis.zip.items()}))
        else:
            axes.append(Axis(name, {name: list(axis_values(axis))}))
    return axes


def check_grid(spec, output: Path | None, where: str) -> None:
    """``reduce: grid`` needs a product of parameters, and a format that holds arrays."""
    if spec.model.parameters is None:
        given = "points" if spec.model.points is not None else "points_file"
        raise UserError(
            f"{where}: reduce: grid arranges outputs along the parameters' axes, "
            f"but this spec lists its points ({given}), which have no axes; use "
            f"reduce: table for one row per point."
        )
    if output is not None:
        check_suffix(output, GRID_SUFFIXES, "grid", where)
        if output.suffix.lower() == ".nc":
            _xarray()


def build_grid(spec: JobSpec, items: Iterable[tuple[int, Any]]) -> GridResult:
    """Place each (point index, output) at its position in the grid."""
    import numpy as np

    grid = GridResult(grid_axes(spec))
    shape = grid.shape
    for index, output in items:
        if output is MISSING:
            continue
        at = np.unravel_index(index, shape)
        parts = _flatten(output, None) if isinstance(output, dict) else [(None, output)]
        for key, value in parts:
            name = "values" if key is None else f"values.{key}"
            value = np.asarray(value)
            array = grid.arrays.get(name)
            if array is None:
                if value.dtype.kind not in "biufc":
                    raise UserError(
                        f"reduce: grid: the output of point {index} is not a "
                        f"number or an array of numbers ({value.dtype}); use "
                        f"reduce: table."
                    )
                dtype = (
                    np.result_type(value.dtype, np.float64)
                    if value.dtype.kind in "biu"
                    else value.dtype
                )
                array = grid.arrays[name] = np.full(shape + value.shape, np.nan, dtype=dtype)
            if value.shape != array.shape[len(shape) :]:
                raise UserError(
                    f"reduce: grid: the output of point {index} has shape "
                    f"{value.shape}, the first had {array.shape[len(shape) :]}; "
                    f"every point's output must have the same shape."
                )
            array[at] = value
    return grid


def _flatten(mapping: dict, prefix: str | None) -> list[tuple[str, Any]]:
    """Nested mappings as (``a.b``, value) pairs."""
    out = []
    for key, value in mapping.items():
        name = str(key) if prefix is None else f"{prefix}.{key}"
        out += _flatten(value, name) if isinstance(value, dict) else [(name, value)]
    return out


def grid_bytes(grid: GridResult, suffix: str) -> bytes:
    """The grid as .npz or .nc bytes."""
    import numpy as np

    if suffix == ".npz":
        arrays = dict(grid.arrays)
        arrays["dims"] = np.array([a.name for a in grid.axes])
        for axis in grid.axes:
            for name, values in axis.coords.items():
                arrays[f"coord.{name}"] = np.asarray(values)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()
    xr = _xarray()
    dims = [a.name for a in grid.axes]
    coords = {
        name: (axis.name, values) for axis in grid.axes for name, values in axis.coords.items()
    }
    data = {}
    for name, array in grid.arrays.items():
        extra = [f"{name}_dim{i}" for i in range(array.ndim - len(dims))]
        data[name.replace(".", "_")] = (dims + extra, array)
    return xr.Dataset(data, coords=coords).to_netcdf()


def _xarray():
    try:
        import xarray
    except ImportError:
        raise UserError(
            f"writing netCDF (.nc) needs xarray: pip install '{NETCDF_EXTRA}', or write .npz."
        ) from None
    return xarray
