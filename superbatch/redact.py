"""Remove secrets (SAS signatures, account keys, passwords) from text before it is shown."""
from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"(sig=)[^&\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(AccountKey=)[^;\s'\"]+", re.IGNORECASE), r"\1REDACTED"),
    (re.compile(r"(SharedKey [^:\s]+:)[^\s'\"]+"), r"\1REDACTED"),
    (re.compile(r"(Bearer )[A-Za-z0-9._~+/=-]+"), r"\1REDACTED"),
    (re.compile(r"(\"?password\"?\s*[:=]\s*\"?)[^\s\",}]+", re.IGNORECASE), r"\1REDACTED"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
