"""Pydantic's validation errors said as the spec's problems: file, line, field, what to do."""

import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from superbatch.errors import SpecError
from superbatch.spec.yamlsource import SourceMap


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (for key suggestions)."""
    model: Any = root
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    for arg in typing.get_args(annotation) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation


def _describe(root: type[BaseModel], error: ErrorDetails) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        model = _model_at(root, loc)
        key = loc[-1]
        msg = f"unknown key {key!r}"
        if model is not None:
            import difflib  # only for a message

            close = difflib.get_close_matches(str(key), list(model.model_fields), n=1, cutoff=0.6)
            if close:
                msg += f"; did you mean {close[0]!r}?"
            else:
                msg += f" (allowed: {', '.join(model.model_fields)})"
        return msg
    if error["type"] == "missing":
        return "required field is missing"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    msg = msg.rstrip(".")
    if error["type"] == "string_type" and isinstance(error.get("input"), bool):
        msg += " (YAML reads yes/no/on/off/true/false as booleans: put the value in quotes)"
    if error["type"] == "string_pattern_mismatch" and loc == ("name",):
        msg = (
            "must be 1-40 lowercase letters, digits and '-', starting and ending with a "
            "letter or digit"
        )
    elif error["type"] == "string_pattern_mismatch" and "container" in loc:
        msg = (
            "must be 3-63 lowercase letters, digits and single hyphens, starting and "
            "ending with a letter or digit"
        )
    elif error["type"] == "string_pattern_mismatch":
        msg = "must be 1-64 letters, digits, '-' or '_'"
    return msg


def _display_loc(loc: tuple) -> tuple:
    # Hide the internal wrapping of `parameters.zip` and pydantic's union tags.
    out: list = []
    for part in loc:
        if part in ("values", "range", "linspace", "zip") and out and out[-1] == part:
            continue
        if (
            isinstance(part, str)
            and part in ("values",)
            and len(out) >= 2
            and out[0] == "parameters"
        ):
            continue
        out.append(part)
    return tuple(out)


def _format_loc(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def spec_error_from_validation(
    root: type[BaseModel], path: Path, source: SourceMap, exc: ValidationError
) -> SpecError:
    """One paragraph naming file, line and field for each problem pydantic found in
    validating a ``root`` model (key suggestions come from its fields)."""
    lines = []
    errors = exc.errors()
    for error in errors[:12]:
        loc = _display_loc(tuple(error["loc"]))
        pos = source.position(loc)
        where = f"{path}, line {pos[0]}" if pos else str(path)
        text = _describe(root, error)
        lines.append(f"{where}: {_format_loc(loc)}: {text}{'' if text.endswith('?') else '.'}")
    if len(errors) > 12:
        lines.append(f"... and {len(errors) - 12} more problems.")
    return SpecError("\n".join(lines))
