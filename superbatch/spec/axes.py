"""The spec's parameter grid: axes (values, range, linspace, zip) and inline points."""

import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    field_validator,
    model_validator,
)

from superbatch.spec.base import StrictModel
from superbatch.spec.sequences import FloatRange, Linspace, PointList


class RangeAxis(StrictModel):
    """``{range: [start, stop, step]}``: like Python's range (stop exclusive); floats allowed."""

    range: list[int | float] = Field(min_length=1, max_length=3)

    @field_validator("range")
    @classmethod
    def _step_not_zero(cls, v: list) -> list:
        if any(isinstance(x, float) and not math.isfinite(x) for x in v):
            raise ValueError("a range takes finite numbers (not .inf, .nan or 1e400)")
        if len(v) == 3 and v[2] == 0:
            raise ValueError("the step of a range cannot be 0")
        return v

    def values(self) -> Sequence:
        """The values as a lazy sequence (ints stay ints)."""
        r = self.range
        start, stop, step = (
            (0, r[0], 1) if len(r) == 1 else (r[0], r[1], r[2] if len(r) == 3 else 1)
        )
        if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
            return range(start, stop, step)
        return FloatRange(float(start), float(stop), float(step))


class LinspaceAxis(StrictModel):
    """``{linspace: [start, stop, count]}``: evenly spaced, stop inclusive."""

    linspace: tuple[float, float, Annotated[int, Field(ge=1)]]

    @field_validator("linspace")
    @classmethod
    def _finite(cls, v: tuple) -> tuple:
        if not (math.isfinite(v[0]) and math.isfinite(v[1])):
            raise ValueError("linspace takes finite start and stop (not .inf, .nan or 1e400)")
        return v

    def values(self) -> Sequence:
        start, stop, count = self.linspace
        return Linspace(start, stop, count)


def _axis_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "values"
    if isinstance(value, dict):
        for kind in ("range", "linspace", "zip"):
            if kind in value:
                return kind
        return "unknown"
    if isinstance(value, BaseModel):
        return {RangeAxis: "range", LinspaceAxis: "linspace", ZipAxis: "zip"}.get(type(value))
    return None


Axis = Annotated[
    Annotated[list[Any], Tag("values")]
    | Annotated[RangeAxis, Tag("range")]
    | Annotated[LinspaceAxis, Tag("linspace")],
    Discriminator(
        _axis_kind,
        custom_error_type="axis",
        custom_error_message="expected a list of values, {range: [start, stop, step]} "
        "or {linspace: [start, stop, count]}",
    ),
]


class ZipAxis(StrictModel):
    """``{zip: {a: [...], b: [...]}}``: keys that advance together (equal lengths)."""

    zip: dict[str, Axis] = Field(min_length=1)

    @model_validator(mode="after")
    def _equal_lengths(self) -> "ZipAxis":
        lengths = {name: len(axis_values(axis)) for name, axis in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise ValueError(f"zipped keys must have equal lengths ({shown})")
        return self


def axis_values(axis: Any) -> Sequence:
    """The values of a list, range or linspace axis as a sequence."""
    return axis if isinstance(axis, list) else axis.values()


Parameter = Annotated[
    Annotated[list[Any], Tag("values")]
    | Annotated[RangeAxis, Tag("range")]
    | Annotated[LinspaceAxis, Tag("linspace")]
    | Annotated[ZipAxis, Tag("zip")],
    Discriminator(
        _axis_kind,
        custom_error_type="axis",
        custom_error_message="expected a list of values, {range: [start, stop, step]}, "
        "{linspace: [start, stop, count]} or {zip: {name: values, ...}}",
    ),
]


class _InlinePoints:
    """``points:``: a list of mappings, validated as ``list[dict[str, Any]]`` and held as a
    :class:`PointList` (compact, for lists of millions of points). A PointList from the YAML
    scanner is not copied point by point; anything else, or a point that is not a mapping
    with string keys, goes through pydantic's own list validation (and its messages)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        from pydantic_core import core_schema

        plain = handler.generate_schema(list[dict[str, Any]])
        return core_schema.no_info_wrap_validator_function(
            _validate_points,
            plain,
            serialization=core_schema.plain_serializer_function_ser_schema(
                list, return_schema=plain
            ),
        )


def _validate_points(value: Any, handler: Any) -> PointList:
    if isinstance(value, PointList) and value.is_plain():
        return value
    if isinstance(value, PointList):
        value = list(value)
    return PointList.from_rows(handler(value))


InlinePoints = Annotated[PointList, _InlinePoints]
