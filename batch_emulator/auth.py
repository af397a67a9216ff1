"""SharedKey request signatures over exactly the headers a request carried.

Clients differ in what they send: azure-batch's policy (Python) signs ``Content-Length: 0`` for a
bodiless DELETE and its transport sends that header, while ``@azure/batch`` (Node) sends no
``Content-Length`` and signs the line empty. Both are right when the signature covers what was
received, which is what the service checks.

A signed request is also dated (``ocp-date``, else ``Date``), and "the Batch service must receive a
request within 15 minutes of when it is created" (the Batch page "Authenticate requests"): a request
dated further from the emulator's clock, either way, or not dated, or dated with something that is
not an HTTP date, is refused, so a captured request cannot be replayed later. The answer is the 403
``AuthenticationFailed`` of every other authentication failure, with the detail Azure Storage's
shared-key front end gives (``Request date header too old: '...'``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs

from .errors import BatchError

MAX_SKEW = timedelta(minutes=15)
SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def string_to_sign(
    account: str, method: str, path: str, query: str, headers: dict[str, str]
) -> str:
    """The canonical string: method, standard headers, ``ocp-*`` headers, resource, query."""
    h = {k.lower(): v for k, v in headers.items() if v}
    out = method + "\n" + "\n".join(h.get(name, "") for name in SIGNED_HEADERS) + "\n"
    for name, value in sorted((k, v) for k, v in h.items() if "ocp-" in k):
        out += f"{name}:{value}\n"
    out += f"/{account}{path}"
    params = parse_qs(query)
    for name in sorted(params):
        out += f"\n{name}:{params[name][0]}"
    return out


def sign(key: str, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` under the base64-decoded account key."""
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def check(
    account: str,
    key: str,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    now: datetime | None = None,
) -> None:
    """Raise 403 ``AuthenticationFailed`` unless the request carries a valid SharedKey signature
    and is dated within 15 minutes of ``now`` (default: the current time)."""
    auth = headers.get("authorization") or headers.get("Authorization") or ""
    if not auth.startswith("SharedKey "):
        raise _failed(
            "Only SharedKey authentication is supported by the emulator"
            if auth
            else "The Authorization header is missing."
        )
    name, _, signature = auth[len("SharedKey ") :].partition(":")
    if name != account:
        raise _failed(f"The account name '{name}' is not this account.")
    expected = sign(key, string_to_sign(account, method, path, query, headers))
    if not hmac.compare_digest(expected, signature):
        raise _failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature."
        )
    check_date(headers, now or datetime.now(timezone.utc))


def check_date(headers: dict[str, str], now: datetime) -> None:
    """Raise 403 ``AuthenticationFailed`` unless ``ocp-date`` (else ``Date``) is a valid HTTP date
    within :data:`MAX_SKEW` of ``now``."""
    h = {k.lower(): v for k, v in headers.items() if v}
    raw = h.get("ocp-date") or h.get("date")
    if not raw:
        raise _failed("Request date header not specified.")
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        when = None
    if when is None or when.tzinfo is None:  # an HTTP date is GMT; a zoneless one is not one
        raise _failed(f"The request date header '{raw}' is not a valid HTTP date.")
    if when < now - MAX_SKEW:
        raise _failed(f"Request date header too old: '{raw}'")
    if when > now + MAX_SKEW:
        raise _failed(f"Request date header too far in the future: '{raw}'")


def _failed(detail: str) -> BatchError:
    return BatchError(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of "
        "Authorization header is formed correctly including the signature.",
        {"AuthenticationErrorDetail": detail},
    )
