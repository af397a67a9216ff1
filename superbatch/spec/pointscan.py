"""The inline ``points:`` scanner: a generated point list read straight into columns.

It takes the shapes a generated list takes (one ``- {a: 1, b: x}`` per line, or ``- a: 1``
with the other keys below it; plain numbers, words and simple quoted strings) into compact
columns (:class:`~superbatch.spec.sequences.PointList`), without a node per value. A point in any
other shape is read by the YAML loader, a run of such points at a time. Scalars are typed
exactly as the YAML loader types them (the scanner only takes shapes whose typing it knows,
and asks the loader's own resolver about words such as ``yes`` or ``null``). Anything it
does not take on raises :class:`GiveUp`, and the caller reads the file the general way.

One module (a little over 400 lines) because its patterns, the columns they fill and the
scan loop change together: a shape the scanner takes is all three.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from superbatch.errors import SpecError
from superbatch.spec.yamlnodes import FastLoader, Loc, Walk, compose, decode_text, locate

BATCH = 65536  # points scanned a line at a time, made columns at a time
WINDOW = 1 << 21  # characters of points matched at a time
ODD_RUN = 10_000  # points the loader reads at most at a time (its nodes cost memory)


# What YAML does not allow unescaped (not printable), a line break only YAML knows (\x85,
# \u2028, \u2029), a tab: the scanner takes no text with these (the loader judges it).
_ODD = r"\x00-\x08\t\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff"
_INT = r"-?(?:0|[1-9][0-9]*)"
_FLOAT = r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?"
_WORD = r"[A-Za-z_][A-Za-z0-9_./\-]*"
_DQ = f'"[^"\\\\\\n{_ODD}]*"'
_SQ = f"'[^'\\n{_ODD}]*'"
_VALUE = f"(?:{_FLOAT}|{_INT}|{_WORD}|{_DQ}|{_SQ})"
_KEY = f"(?:{_WORD}|{_DQ}|{_SQ})"
# Trailing spaces, a comment (a "#" at the start or after a space), the end of the line.
_END = f"[ ]*(?:(?<![^ \\n])#[^\\n{_ODD}]*)?(?:\\n|\\Z)"


@functools.cache
def _rx() -> SimpleNamespace:
    """The scanner's patterns, compiled when a file has a ``points:`` list (not at import)."""
    return SimpleNamespace(
        odd_breaks=re.compile("[\x85\u2028\u2029]"),
        points=re.compile(r"^points:" + _END, re.M),
        item_start=re.compile(r"([ ]*)-(?:[ ]|\n|\Z)"),
        blank=re.compile(_END),
        flow_item=re.compile(r"([ ]*)- \{[ ]*(.*?)[ ]*\}" + _END),
        pair=re.compile(f"[ ]*({_KEY})[ ]*:[ ]+({_VALUE})[ ]*(?:,|$)"),
        block_first=re.compile(f"([ ]*)- ({_KEY}):[ ]+({_VALUE})" + _END),
        all_ints=re.compile(f"(?:{_INT}\n)*"),
        all_floats=re.compile(f"(?:{_FLOAT}\n)*"),
    )


_TAG_STR = "tag:yaml.org,2002:str"
_SCALAR_NODE = yaml.ScalarNode


class GiveUp(Exception):
    """The scanner does not take this file on: read it the general way."""


class _Scalars:
    """Plain and quoted scalars typed as the YAML loader types them."""

    def __init__(self) -> None:
        self.loader = FastLoader("")
        self.special = set(self.loader.yaml_implicit_resolvers)
        self.words: dict[str, Any] = {}

    def close(self) -> None:
        self.loader.dispose()

    def word(self, text: str) -> Any:
        """A plain word: a string, unless the loader's resolver says otherwise."""
        if text[0] not in self.special:
            return text
        found = self.words.get(text, self)
        if found is self:
            tag = self.loader.resolve(_SCALAR_NODE, text, (True, False))
            if tag == _TAG_STR:
                found = text
            else:
                node = _SCALAR_NODE(tag, text)
                found = self.loader.construct_object(node, deep=True)
            if len(self.words) < 10_000:
                self.words[text] = found
        return found

    def value(self, text: str) -> Any:
        first = text[0]
        if first == '"' or first == "'":
            return text[1:-1]
        if first == "-" or first.isdigit():
            return float(text) if "." in text else int(text)
        return self.word(text)

    def key(self, text: str) -> str:
        """A key as written (quoted or plain); a plain key must read as a string."""
        if text[0] in "\"'":
            return text[1:-1]
        if text[0] in self.special and self.word(text) != text:
            raise GiveUp  # e.g. `yes:` is the key True; let the loader say what it makes
        return text

    def column(self, raw: Sequence[str]):
        """A column of scalars: an int64 or float array when every value is one."""
        joined = "\n".join(raw) + "\n"
        if _rx().all_ints.fullmatch(joined):
            try:
                return array("q", map(int, raw))
            except OverflowError:
                return list(map(int, raw))
        if _rx().all_floats.fullmatch(joined):
            return array("d", map(float, raw))
        value = self.value
        return [value(r) for r in raw]


@dataclass
class PointLines:
    """Where each inline point starts, kept as runs: from point ``index`` on, a point every
    ``height`` lines from ``line`` (a scanned list is a few runs, not a line per point)."""

    runs: list[tuple[int, int, int]]  # (index, line, height), by index
    count: int  # points
    column: int  # of every point's '-' (1-based)
    end: int  # the line after the list
    path: Path = Path()
    digest: str = ""

    def line(self, index: int) -> int:
        first, line, height = self.runs[bisect.bisect_right(self.runs, (index, 1 << 62)) - 1]
        return line + (index - first) * height

    def position(self, loc: Loc) -> tuple[int, int] | None:
        index = loc[1]
        if not isinstance(index, int) or not 0 <= index < self.count:
            return None
        if len(loc) > 2:
            inner = self._locate_inside(index, loc[2:])
            if inner is not None:
                return inner
        return (self.line(index), self.column)

    def _locate_inside(self, index: int, rest: Loc) -> tuple[int, int] | None:
        """A position inside point ``index``: that point's lines, read again as YAML."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != self.digest:
            return None  # the file changed since it was read
        lines = decode_text(data, self.path).split("\n")
        first = self.line(index) - 1
        last = self.line(index + 1) - 1 if index + 1 < self.count else self.end - 1
        found = locate("\n".join(lines[first:last]), (0, *rest))
        return (found[0] + first, found[1]) if found else None


class ScannedPoints:
    """The points scanned so far: columns per run of points with the same keys, or rows.

    Raw values (text) come a point at a time (``raw``) or a window at a time (columns); they
    become typed columns every BATCH points, and whenever the keys change."""

    def __init__(self, scalars: _Scalars):
        self.scalars = scalars
        self.segments: list = []  # (keys, columns) or list of dicts
        self.keys: tuple = ()
        self.raw: list[tuple] = []
        self.count = 0
        self.runs: list[tuple[int, int, int]] = []
        self.next_line = -1  # where the next point starts if it goes on the last run
        self.size = 1  # the list itself (the expanded size, as the walk counts it)
        self.problem: SpecError | None = None  # found in a point the loader read

    def begin(self, keys: tuple) -> None:
        """Points with these keys follow."""
        if keys != self.keys:
            self.flush()
            self.keys = keys

    def at(self, line: int, height: int, count: int = 1) -> None:
        """``count`` points start at ``line``, one every ``height`` lines."""
        if line != self.next_line or not self.runs or self.runs[-1][2] != height:
            self.runs.append((self.count, line, height))
        self.count += count
        self.next_line = line + count * height

    def add(self, values: tuple, line: int, height: int) -> None:
        self.raw.append(values)
        self.at(line, height)
        if len(self.raw) >= BATCH:
            self.flush()

    def add_columns(self, columns: list, line: int, height: int) -> None:
        self.flush()
        self.at(line, height, len(columns[0]))
        self._store([self.scalars.column(c) for c in columns])

    def add_rows(self, rows: list, lines: list[int], size: int) -> None:
        self.flush()
        self.keys = ()
        for line in lines:
            self.runs.append((self.count, line, 0))
            self.count += 1
        self.next_line = -1
        self.size += size - 1
        if self.segments and isinstance(self.segments[-1], list):
            self.segments[-1].extend(rows)
        else:
            self.segments.append(list(rows))

    def flush(self) -> None:
        raw = self.raw
        if raw:
            columns = [self.scalars.column(col) for col in zip(*raw)]
            raw.clear()
            self._store(columns)

    def _store(self, columns: list) -> None:
        keys = self.keys
        self.size += len(columns[0]) * (1 + len(keys))
        last = self.segments[-1] if self.segments else None
        if isinstance(last, tuple) and last[0] == keys and all(map(_same_kind, last[1], columns)):
            for old, new in zip(last[1], columns):
                old.extend(new)
        else:  # new keys, or a column of another kind: a segment of its own
            self.segments.append((keys, columns))


def _same_kind(old, new) -> bool:
    if isinstance(old, array):
        return isinstance(new, array) and old.typecode == new.typecode
    return not isinstance(new, array)


def _flow_signature(text: str, pos: int, scalars: _Scalars) -> tuple[re.Pattern, tuple, int]:
    """The pattern for points shaped as the one at ``pos``: ``- {k: v, ...}`` on one line."""
    m = _rx().flow_item.match(text, pos)
    if m is None:
        raise GiveUp
    indent, body = m.group(1), m.group(2)
    keys, raw_keys, end = [], [], 0
    while end < len(body):
        p = _rx().pair.match(body, end)
        if p is None or p.end() == end:
            raise GiveUp
        raw_keys.append(p.group(1))
        keys.append(scalars.key(p.group(1)))
        end = p.end()
    if not keys or len(set(keys)) != len(keys):
        raise GiveUp  # `- {}` or a duplicate key: the general way says what it is
    pairs = r"[ ]*,[ ]*".join(f"{re.escape(k)}[ ]*:[ ]+({_VALUE})" for k in raw_keys)
    pattern = f"{indent}- \\{{[ ]*{pairs}[ ]*\\}}" + _END
    return re.compile(_AT_LINE_START + pattern + _not_deeper(indent)), tuple(keys), 1


def _block_signature(text: str, pos: int, scalars: _Scalars) -> tuple[re.Pattern, tuple, int]:
    """The pattern for points shaped as the one at ``pos``: ``- k: v`` and ``  k: v`` lines."""
    m = _rx().block_first.match(text, pos)
    if m is None:
        raise GiveUp
    indent = m.group(1)
    inner = indent + "  "
    raw_keys = [m.group(2)]
    follow = re.compile(f"{inner}({_KEY}):[ ]+({_VALUE})" + _END)
    end = m.end()
    while True:
        f = follow.match(text, end)
        if f is None:
            break
        raw_keys.append(f.group(1))
        end = f.end()
    keys = [scalars.key(k) for k in raw_keys]
    if len(set(keys)) != len(keys):
        raise GiveUp
    lines = [f"{indent}- {re.escape(raw_keys[0])}:[ ]+({_VALUE})" + _END]
    lines += [f"{inner}{re.escape(k)}:[ ]+({_VALUE})" + _END for k in raw_keys[1:]]
    pattern = _AT_LINE_START + "".join(lines) + _not_deeper(indent)
    return re.compile(pattern), tuple(keys), len(raw_keys)


_AT_LINE_START = r"(?<![^\n])"


def _not_deeper(indent: str) -> str:
    """The next line does not go on with the point (a longer value, another key)."""
    return f"(?![ ]{{{len(indent) + 1},}}[^ \\n#])"


def scan_points(text: str, path: Path, budget: int) -> tuple[int, int, ScannedPoints, int] | None:
    """Find a top-level block ``points:`` list and read it: (offset of the key, offset of
    the list's end, the points, their column); None when there is no such list. Raises
    GiveUp for a list the scanner does not take on.

    Points shaped alike are matched a window (WINDOW characters) at a time: every line of
    the window must be part of a match (so the matches are the window, in order); else
    that window is read a line at a time."""
    head = _rx().points.search(text)
    if head is None:
        return None
    pos = head.end()
    line = text.count("\n", 0, pos) + 1  # the 1-based line at pos
    size = len(text)
    indent: str | None = None
    scalars = _Scalars()
    points = ScannedPoints(scalars)
    odd: list[tuple[int, int]] = []  # (offset, line) of points waiting for the loader
    pattern: re.Pattern[str] | None = None
    deeper: re.Pattern[str] | None = None
    keys: tuple = ()
    height = 1
    slow_until = 0  # a line at a time up to here
    try:
        while pos < size:
            if pattern is not None and pos >= slow_until and not odd:
                end = text.find("\n", min(pos + WINDOW, size) - 1)
                end = size if end < 0 else end + 1
                found = pattern.findall(text, pos, end)
                lines = text.count("\n", pos, end) + (text[end - 1] != "\n")
                if (
                    found
                    and len(found) * height == lines
                    and (end == size or (deeper is not None and deeper.match(text, end) is None))
                ):
                    columns = list(zip(*found)) if len(keys) > 1 else [found]
                    points.add_columns(columns, line, height)
                    pos, line = end, line + lines
                    continue
                slow_until = end
            m = pattern.match(text, pos) if pattern is not None else None
            if m is None:
                b = _rx().blank.match(text, pos)
                if b is not None and b.end() > pos:  # a blank or comment line
                    pos, line = b.end(), line + 1
                    continue
                start = _rx().item_start.match(text, pos)
                if start is None or (indent is not None and start.group(1) != indent):
                    if text[pos] != " ":
                        break  # the next top-level key: the list ends
                    raise GiveUp  # more lines of a point read as done, or no list at all
                indent = start.group(1)
                deeper = re.compile(_not_deeper(indent)[3:-1])
                flow = text.startswith("- {", pos + len(indent))
                try:
                    derive = _flow_signature if flow else _block_signature
                    pattern, keys, height = derive(text, pos, scalars)
                    m = pattern.match(text, pos)
                except GiveUp:
                    pattern = None
                if m is None:  # a point the loader reads (with the others around it)
                    odd.append((pos, line))
                    pos, line = _odd_extent(text, pos, line, indent)
                    if len(odd) >= ODD_RUN:  # the loader's nodes for a run at a time
                        _load_odd(text, path, odd, pos, points, budget)
                        pattern = None  # the next point starts its keys again
                    continue
                if odd:
                    _load_odd(text, path, odd, pos, points, budget)
                points.begin(keys)
            elif odd:
                _load_odd(text, path, odd, pos, points, budget)
                points.begin(keys)
            points.add(m.groups(), line, height)
            line += height
            pos = m.end()
        if odd:
            _load_odd(text, path, odd, pos, points, budget)
        points.flush()
    finally:
        scalars.close()
    if indent is None:
        return None
    return head.start(), pos, points, len(indent) + 1


def _odd_extent(text: str, pos: int, line: int, indent: str) -> tuple[int, int]:
    """Skip a point's lines: the first, and those after it until a line that is no deeper
    than the list's items (a blank or comment line does not end it)."""
    nl = text.find("\n", pos)
    if nl < 0:
        return len(text), line
    pos, line = nl + 1, line + 1
    width = len(indent)
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl
        stripped = text[pos:end].lstrip(" ")
        depth = end - pos - len(stripped)
        if stripped and not stripped.startswith("#") and depth <= width:
            break
        pos, line = end + 1, line + 1
    return min(pos, len(text)), line


def _load_odd(
    text: str, path: Path, odd: list, end: int, points: ScannedPoints, budget: int
) -> None:
    """Points the scanner does not read: the YAML loader reads the run of them."""
    first, line0 = odd[0]
    chunk = text[first:end]
    if _rx().odd_breaks.search(chunk):
        raise GiveUp  # the loader would count lines otherwise
    if "&" in chunk:
        raise GiveUp  # an anchor: the loader refuses one given twice in the file, not per run
    w = Walk(path, line_offset=line0 - 1)
    try:
        data, node = compose(chunk, path, w, depth0=1, budget=budget - points.size)
    except SpecError as exc:
        if "YAML syntax error" in str(exc):
            raise GiveUp from None  # maybe a value the split cut in two: the general way
        # Said once the whole file is known to be YAML (a syntax error is said first); of
        # several, the last (as the general way, which walks a list from its end).
        points.problem = exc
        points.add_rows([None] * len(odd), [line for _, line in odd], len(odd) + 1)
        odd.clear()
        return
    if (
        not isinstance(node, yaml.SequenceNode)
        or len(node.value) != len(odd)
        or not isinstance(data, list)
    ):
        raise GiveUp
    points.add_rows(data, [item.start_mark.line + line0 for item in node.value], w.size)
    odd.clear()
