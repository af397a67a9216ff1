"""Parse human durations ("90s", "15m", "1h30m", "2d", ISO 8601 "PT1H", or seconds)."""

from __future__ import annotations

import functools
import re
from datetime import timedelta

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)


@functools.cache
def _iso() -> re.Pattern:  # compiled when first needed: most specs say "1h", not "PT1H"
    return re.compile(
        r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE
    )


def parse_duration(value: object) -> timedelta:
    """A timedelta from a number of seconds or a duration string; ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 15m, 1h or 2d")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        parts = _PART.findall(text)
        if parts and not _PART.sub("", text).strip():  # parts, and only blanks between them
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in parts)
        elif (m := _iso().match(text)) and text.upper() not in ("P", "PT"):
            d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
            seconds = d * 86400 + h * 3600 + mi * 60 + s
        else:
            raise ValueError(f"{value!r} is not a duration; use e.g. 90s, 15m, 1h30m or 2d")
        if seconds <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=seconds)
    raise ValueError("expected a duration such as 90s, 15m, 1h or 2d")


def iso8601(delta: timedelta) -> str:
    """ISO 8601 duration as the Batch REST API expects (e.g. PT1H30M)."""
    total = int(delta.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (
        (f"{hours}H" if hours else "")
        + (f"{minutes}M" if minutes else "")
        + (f"{seconds}S" if seconds else "")
    )
    return out + ("T" + time if time else ("" if days else "T0S"))
