"""The small OData ``$filter``/``$select`` subset the emulator understands for list calls.

Supported: comparisons ``path op literal`` with ``eq ne gt ge lt le`` joined by ``and``/``or``
(``and`` binds tighter; no parentheses), and ``startswith(path, 'x')``. ``path`` is a property
path such as ``state``, ``id`` or ``executionInfo/result``; literals are quoted strings, numbers,
``true``/``false``/``null``. Anything else is refused as the service refuses a bad query.
"""
from __future__ import annotations

import operator
import re
from typing import Callable

from .errors import BatchError

_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
        "lt": operator.lt, "le": operator.le}
_CMP = re.compile(r"^\s*([A-Za-z][\w/]*)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$", re.S)
_STARTS = re.compile(r"^\s*startswith\(\s*([A-Za-z][\w/]*)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$")


def bad_query(name: str, value: str, reason: str) -> BatchError:
    """400 ``InvalidQueryParameterValue`` as in the service's documented example."""
    return BatchError(400, "InvalidQueryParameterValue",
                      "Value for one of the query parameters specified in the request URI is invalid.",
                      {"QueryParameterName": name, "QueryParameterValue": value, "Reason": reason})


def lookup(doc: dict, path: str):
    """The value at an OData property path (``a/b``), or None."""
    value = doc
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _literal(text: str, source: str):
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise bad_query("$filter", source, f"Cannot parse the literal {text!r}.") from None


def _split(text: str, word: str) -> list[str]:
    """Split on `` word `` outside quoted strings."""
    parts, depth_quote, start, i = [], False, 0, 0
    token = f" {word} "
    while i < len(text):
        if text[i] == "'":
            depth_quote = not depth_quote
        elif not depth_quote and text[i:i + len(token)].lower() == token:
            parts.append(text[start:i])
            start = i = i + len(token)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _term(text: str, source: str) -> Callable[[dict], bool]:
    m = _STARTS.match(text)
    if m:
        path, prefix = m.group(1), m.group(2).replace("''", "'")
        return lambda doc: isinstance(lookup(doc, path), str) and lookup(doc, path).startswith(prefix)
    m = _CMP.match(text)
    if not m:
        raise bad_query("$filter", source, f"Unsupported filter expression {text.strip()!r}.")
    path, op, literal = m.group(1), _OPS[m.group(2)], _literal(m.group(3).strip(), source)

    def test(doc: dict) -> bool:
        value = lookup(doc, path)
        if isinstance(value, str) and isinstance(literal, str):
            return op(value.lower(), literal.lower())   # the service compares enums case-insensitively
        try:
            return op(value, literal)
        except TypeError:
            return False
    return test


def compile_filter(text: str | None) -> Callable[[dict], bool]:
    """A predicate over a resource document for an OData ``$filter`` (None: everything)."""
    if not text or not text.strip():
        return lambda doc: True
    alternatives = [[_term(t, text) for t in _split(alt, "and")] for alt in _split(text, "or")]
    return lambda doc: any(all(t(doc) for t in terms) for terms in alternatives)


def select(doc: dict, fields: list[str] | None) -> dict:
    """The top-level properties named by ``$select`` (all when absent)."""
    if not fields:
        return doc
    wanted = {f.split("/")[0] for f in fields}
    return {k: v for k, v in doc.items() if k in wanted}
