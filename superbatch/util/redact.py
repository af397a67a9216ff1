"""Remove secrets (SAS signatures, account keys, passwords) from text before it is shown."""

from __future__ import annotations

import functools
import re

# A value written "..." is the placeholder of superbatch's own advice ("AccountKey=..."),
# never a secret (SAS signatures and keys are base64 or percent-encoded: no dots).
_NOT_PLACEHOLDER = r"(?!\.\.\.)"


@functools.cache
def _patterns() -> list[tuple[re.Pattern, str]]:
    """Compiled when text is first redacted (not at import: every command imports this)."""
    return [
        (re.compile(rf"(sig=){_NOT_PLACEHOLDER}[^&\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
        (re.compile(rf"(AccountKey=){_NOT_PLACEHOLDER}[^;\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
        (re.compile(r"(SharedKey [^:\s]+:)[^\s'\"]+"), r"\1REDACTED"),
        (re.compile(r"(Bearer )[A-Za-z0-9._~+/=-]+"), r"\1REDACTED"),
        (re.compile(r"(\"?password\"?\s*[:=]\s*\"?)[^\s\",}]+", re.IGNORECASE), r"\1REDACTED"),
        (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", re.IGNORECASE), r"\1REDACTED@"),
    ]


_SECRETS: set[str] = set()
MIN_SECRET = 4  # shorter values would redact ordinary words


def add_secret(value: str) -> None:
    """A value (e.g. taken from the environment for a worker) never to be shown."""
    if len(value) >= MIN_SECRET:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with SAS signatures, keys, tokens, passwords, URL user-info and the values
    registered with :func:`add_secret` replaced."""
    for pattern, replacement in _patterns():
        text = pattern.sub(replacement, text)
    for secret in _SECRETS:
        text = text.replace(secret, "REDACTED")
    return text


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (for URLs that are stored or printed)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
