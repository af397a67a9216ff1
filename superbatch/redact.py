"""Remove secrets (SAS signatures, account keys, passwords) from text before it is shown."""
from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(AccountKey=)[^;\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(SharedKey [^:\s]+:)[^\s'\"]+"), r"\1REDACTED"),
    (re.compile(r"(Bearer )[A-Za-z0-9._~+/=-]+"), r"\1REDACTED"),
    (re.compile(r"(\"?password\"?\s*[:=]\s*\"?)[^\s\",}]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", re.IGNORECASE), r"\1REDACTED@"),
]


def redact(text: str) -> str:
    """``text`` with SAS signatures, keys, tokens, passwords and URL user-info replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def strip_userinfo(url: str) -> str:
    """``url`` without ``user:password@`` (for URLs that are stored or printed)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
