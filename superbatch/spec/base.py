"""What every section of the job spec's models shares: strict, frozen, built on first use."""

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from superbatch.spec.durations import parse_duration


class StrictModel(BaseModel):
    """A spec section: unknown keys are errors."""

    # Built on first use, once, as one schema for the whole spec (not one per section at
    # import: most commands never validate a spec, and those that do need JobSpec's alone).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
INT32_MAX = 2**31 - 1  # the Batch REST API's int32 fields


def empty_dict() -> dict:
    # Not `dict` itself: pydantic inspects a factory's signature, and a builtin's costs a
    # tokenizer at start-up.
    return {}


def empty_list() -> list:
    return []
