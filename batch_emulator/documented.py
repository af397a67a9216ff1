"""Limits the REST definition states only in words, read from its descriptions.

The vendored definition declares no ``minimum``/``maximum``; its descriptions say "Priority values
can range from -1000 to 1000", "The maximum value is ... 256", "This property must be specified".
Each pattern below is one such wording; every property whose description contains it gets the
limit, so a wording is written down once and the limits stay generated from the definition.
A value outside is answered 400 ``InvalidPropertyValue`` quoting the sentence; a property the
description calls required is answered 400 ``MissingRequiredProperty``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import definition

REQUIRED_SENTENCE = "This property must be specified."


@dataclass(frozen=True)
class Limit:
    """Allowed: ``low`` <= value <= ``high``, or one of ``also``, never inside ``excluded``.

    ``measure`` says what is compared: ``value`` (a number), ``seconds`` (a duration) or
    ``items`` (the length of a list). ``sentence`` is the description's wording."""

    measure: str
    low: float | None
    high: float | None
    sentence: str
    excluded: tuple[tuple[int, int], ...] = ()
    also: tuple[int, ...] = ()

    def allows(self, amount: float) -> bool:
        if amount in self.also:
            return True
        if self.low is not None and amount < self.low:
            return False
        if self.high is not None and amount > self.high:
            return False
        return not any(a <= amount <= b for a, b in self.excluded)


def _num(text: str) -> int:
    return int(text)


# (wording, what it limits): each builds a Limit from the match and the sentence it is in.
_WORDINGS = [
    (
        r"values can range from (-?\d+) to (-?\d+)",
        lambda m, s: Limit("value", _num(m[1]), _num(m[2]), s),
    ),
    (
        r"(?:must|should) be between (\d+) and (\d+), inclusive",
        lambda m, s: Limit("value", _num(m[1]), _num(m[2]), s),
    ),
    (
        r"Acceptable values are between (\d+) and (\d+) except for (\d+) and (\d+)",
        lambda m, s: Limit(
            "value", _num(m[1]), _num(m[2]), s, ((_num(m[3]), _num(m[3])), (_num(m[4]), _num(m[4])))
        ),
    ),
    (
        r"Acceptable values range between (\d+) and (\d+) except ports from (\d+) to (\d+)",
        lambda m, s: Limit("value", _num(m[1]), _num(m[2]), s, ((_num(m[3]), _num(m[4])),)),
    ),
    (
        r"Allowed priorities are (\d+) to (\d+)",
        lambda m, s: Limit("value", _num(m[1]), _num(m[2]), s),
    ),
    # "the smaller of 4 times the number of cores of the vmSize of the pool or 256": the core
    # count of a VM size is not in the definition, so only the fixed bound is checked.
    (
        r"The maximum value is the smaller of .* or (\d+)",
        lambda m, s: Limit("value", None, _num(m[1]), s),
    ),
    (
        r"must be -1 or greater than 0",
        lambda m, s: Limit("value", 1, None, s, also=(-1,)),
    ),
    (
        r"The minimum and maximum value are (\d+) minutes and (\d+) hours",
        lambda m, s: Limit("seconds", _num(m[1]) * 60, _num(m[2]) * 3600, s),
    ),
    (
        r"The minimum value is (\d+) minutes?\.",
        lambda m, s: Limit("seconds", _num(m[1]) * 60, None, s),
    ),
    (
        r"(?:There is a maximum of|A maximum of) (\d+) (?:Application )?(?:Package references|nodes)",
        lambda m, s: Limit("items", None, _num(m[1]), s),
    ),
    (
        r"The maximum number of inbound NAT Pools per Batch Pool is (\d+)",
        lambda m, s: Limit("items", None, _num(m[1]), s),
    ),
]


# which properties a measure can apply to (a sentence may mention another property's limit)
_MEASURES = {
    "value": lambda spec: spec.get("type") == "integer",
    "seconds": lambda spec: spec.get("format") == "duration",
    "items": lambda spec: spec.get("type") == "array",
}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=\.)\s+|<br\s*/?>", text) if s.strip()]


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[tuple[str, str], list[Limit]], dict[str, list[str]]]:
    limits: dict[tuple[str, str], list[Limit]] = {}
    required: dict[str, list[str]] = {}
    for name, schema in definition.definitions().items():
        for prop, spec in (schema.get("properties") or {}).items():
            for sentence in _sentences(spec.get("description", "")):
                if sentence == REQUIRED_SENTENCE and not name.endswith(("Update", "UpdateOptions")):
                    # an update (PATCH) leaves an omitted property as it is
                    required.setdefault(name, []).append(prop)
                for pattern, build in _WORDINGS:
                    m = re.search(pattern, sentence)
                    limit = build(m, sentence) if m else None
                    if limit and _MEASURES[limit.measure](spec):
                        limits.setdefault((name, prop), []).append(limit)
    return limits, required


def limits(definition_name: str, prop: str) -> list[Limit]:
    """The limits the description of ``definition_name.prop`` states."""
    return _tables()[0].get((definition_name, prop), [])


def required(definition_name: str) -> list[str]:
    """Properties of ``definition_name`` whose description says they must be specified."""
    return _tables()[1].get(definition_name, [])
