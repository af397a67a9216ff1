"""Conditional headers (``If-Match``, ``If-None-Match``, ``If-Modified-Since``,
``If-Unmodified-Since``) evaluated as the Batch service documents them."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from .entities import ComputeNode, Entity
from .errors import BatchError, condition_not_met

HEADERS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")


def etag(entity: Entity | ComputeNode) -> str:
    return entity.etag if isinstance(entity, ComputeNode) else entity.doc["eTag"]


def modified(entity: Entity | ComputeNode) -> datetime:
    return entity.modified


def last_modified_header(entity: Entity | ComputeNode) -> str:
    return format_datetime(modified(entity).replace(microsecond=0), usegmt=True)


def _tags(value: str) -> list[str]:
    return [t.strip().removeprefix("W/").strip('"') for t in value.split(",") if t.strip()]


def _date(name: str, value: str) -> datetime:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise BatchError(
            400,
            "InvalidHeaderValue",
            "The value for one of the HTTP headers is not in the correct format.",
            {"HeaderName": name, "HeaderValue": value},
        ) from None


def check(method: str, headers: dict[str, str], entity: Entity | ComputeNode | None) -> None:
    """Raise ``ConditionNotMet`` (412; 304 for a read whose If-None-Match/If-Modified-Since fails).

    Only If-None-Match with If-Modified-Since, or If-Match with If-Unmodified-Since, may be
    combined (the first of each pair decides); any other combination is 400.
    """
    given = {h: headers[h] for h in HEADERS if headers.get(h)}
    if not given:
        return
    pairs = ({"if-none-match", "if-modified-since"}, {"if-match", "if-unmodified-since"})
    if len(given) > 1 and set(given) not in pairs:
        raise BatchError(
            400,
            "InvalidHeaderValue",
            "Only one conditional header may be specified, except "
            "If-None-Match with If-Modified-Since and If-Match with If-Unmodified-Since.",
            {"HeaderName": ", ".join(sorted(given))},
        )
    if entity is None:
        return  # the operation answers 404 itself
    read = method in ("GET", "HEAD")
    tag = etag(entity)
    stamp = modified(entity).replace(microsecond=0)
    if "if-match" in given:
        tags = _tags(given["if-match"])
        if "*" not in tags and tag not in tags:
            raise condition_not_met(412)
    elif "if-unmodified-since" in given and stamp > _date(
        "If-Unmodified-Since", given["if-unmodified-since"]
    ):
        raise condition_not_met(412)
    if "if-none-match" in given:
        tags = _tags(given["if-none-match"])
        if "*" in tags or tag in tags:
            raise condition_not_met(304 if read else 412)
    elif "if-modified-since" in given and stamp <= _date(
        "If-Modified-Since", given["if-modified-since"]
    ):
        raise condition_not_met(304 if read else 412)
