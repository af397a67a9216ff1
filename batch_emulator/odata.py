"""The OData ``$filter``/``$select`` subset the emulator understands for list calls.

``$filter``: comparisons ``path op literal`` (``eq ne gt ge lt le``), ``startswith(path, 'x')``,
``not``, parentheses, and ``and``/``or`` nested in any way (``and`` binds tighter). ``path`` is a
property path such as ``state``, ``id`` or ``executionInfo/result``; literals are quoted strings,
numbers, ``true``/``false``/``null`` and ``datetime'...'``. Anything else is refused as the
service refuses a bad query.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from .errors import BatchError

_OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<str>(?:datetime)?'(?:[^']|'')*')|(?P<punct>[(),])|(?P<word>[^\s(),']+))"
)


def bad_query(name: str, value: str, reason: str) -> BatchError:
    """400 ``InvalidQueryParameterValue`` as in the service's documented example."""
    return BatchError(
        400,
        "InvalidQueryParameterValue",
        "Value for one of the query parameters specified in the request URI is invalid.",
        {"QueryParameterName": name, "QueryParameterValue": value, "Reason": reason},
    )


def lookup(doc: dict, path: str):
    """The value at an OData property path (``a/b``), or None."""
    value: object = doc
    for part in path.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _literal(text: str, source: str):
    if text.startswith("datetime'"):
        return text[9:-1]
    if text.startswith("'"):
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


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip():
                raise bad_query("$filter", text, f"Cannot parse the filter at {text[pos:]!r}.")
            break
        out.append(m.group("str") or m.group("punct") or m.group("word"))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent: or_expr := and_expr ('or' and_expr)*; and_expr := unary ('and' unary)*."""

    def __init__(self, text: str):
        self.source, self.toks, self.i = text, _tokens(text), 0

    def fail(self, why: str) -> BatchError:
        return bad_query("$filter", self.source, why)

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok.lower() != expected):
            raise self.fail(f"Expected {expected or 'more'} at token {self.i + 1}.")
        self.i += 1
        return tok

    def parse(self) -> Callable[[dict], bool]:
        pred = self.or_expr()
        if self.peek() is not None:
            raise self.fail(f"Unexpected {self.peek()!r}.")
        return pred

    def or_expr(self):
        terms = [self.and_expr()]
        while (self.peek() or "").lower() == "or":
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else (lambda doc: any(t(doc) for t in terms))

    def and_expr(self):
        terms = [self.unary()]
        while (self.peek() or "").lower() == "and":
            self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda doc: all(t(doc) for t in terms))

    def unary(self):
        tok = self.peek()
        if tok is None:
            raise self.fail("The filter ends too early.")
        if tok.lower() == "not":
            self.take()
            inner = self.unary()
            return lambda doc: not inner(doc)
        if tok == "(":
            self.take()
            inner = self.or_expr()
            self.take(")")
            return inner
        if tok.lower() == "startswith":
            self.take()
            self.take("(")
            path = self.path()
            self.take(",")
            prefix = _literal(self.take(), self.source)
            self.take(")")
            if not isinstance(prefix, str):
                raise self.fail("startswith needs a string.")
            return lambda doc: (
                isinstance(v := lookup(doc, path), str) and v.lower().startswith(prefix.lower())
            )
        path = self.path()
        op = self.take().lower()
        if op not in _OPS:
            raise self.fail(f"Unsupported operator {op!r}.")
        return _compare(path, _OPS[op], _literal(self.take(), self.source))

    def path(self) -> str:
        tok = self.take()
        if not re.match(r"^[A-Za-z][\w/]*$", tok):
            raise self.fail(f"{tok!r} is not a property path.")
        return tok


def _compare(path: str, op, literal) -> Callable[[dict], bool]:
    def test(doc: dict) -> bool:
        value = lookup(doc, path)
        if isinstance(value, str) and isinstance(literal, str):
            return op(
                value.lower(), literal.lower()
            )  # the service compares enums case-insensitively
        try:
            return op(value, literal)
        except TypeError:
            return False

    return test


def compile_filter(text: str | None) -> Callable[[dict], bool]:
    """A predicate over a resource document for an OData ``$filter`` (None: everything)."""
    if not text or not text.strip():
        return lambda doc: True
    return _Parser(text).parse()


def select(doc: dict, fields: list[str] | None) -> dict:
    """The top-level properties named by ``$select`` (all when absent)."""
    if not fields:
        return doc
    wanted = {f.split("/")[0] for f in fields}
    return {k: v for k, v in doc.items() if k in wanted}
