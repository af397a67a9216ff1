"""YAML loading that can say where any value came from (line and column).

The work per spec is bounded: each node is walked once (an alias reuses its anchor's walk),
the document's expanded size (what validating it would visit, aliases counted every time they
are used) has a ceiling, and so does its depth. So a 500-byte alias bomb or a 900-level
nesting is refused with a message, never a hang, a memory blow-up or a traceback.

Two ways in, one result:

- An inline ``points:`` list (it may hold millions of points) is read by a scanner for the
  shapes a generated list takes (one ``- {a: 1, b: x}`` per line, or ``- a: 1`` with the
  other keys below it; plain numbers, words and simple quoted strings), straight into
  compact columns (:class:`~superbatch.sequences.PointList`). A point in any other shape is
  read by the YAML loader, a run of such points at a time. Scalars are typed exactly as the
  YAML loader types them (the scanner only takes shapes whose typing it knows, and asks the
  loader's own resolver about words such as ``yes`` or ``null``).
- Everything else goes through the C YAML loader (libyaml) and a walk of its nodes that
  enforces the bounds. Positions are recorded for the nodes an error message can name,
  except below long lists; a position there (a line in a long list) is found when an error
  needs it, by reading the file again as a stream of parser events (no nodes kept).

Whenever the scanner meets something it does not take on (a list that is not a top-level
block ``points:`` key, an alias between a point and the rest of the file, a syntax error that
may come from where it split the points), the whole file goes the second way, which is always
right; a syntax error found that way costs no nodes (the parser's events are read first).
"""

from __future__ import annotations

import bisect
import functools
import gc
import hashlib
import re
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from superbatch.errors import SpecError

Loc = tuple  # a path of keys and list indices, e.g. ("azure", "pool", "vm_size")
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 20_000_000
LONG_LIST = 1000  # below a longer list, positions are found on demand (not recorded)
BATCH = 65536  # points scanned a line at a time, made columns at a time
WINDOW = 1 << 21  # characters of points matched at a time


@dataclass
class SourceMap:
    """Maps a value's path in the document to its 1-based line and column.

    ``positions`` holds what was recorded while loading; ``items`` (where each inline point
    starts) and ``locate`` (a fresh look at the file) answer for the rest.
    """

    path: Path
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    items: PointLines | None = None
    unrecorded: set[Loc] = field(default_factory=set)  # long lists: children not recorded
    locate: Callable[[Loc], tuple[int, int] | None] | None = None
    digest: str = ""

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """The position of ``loc``, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        if loc in self.positions:
            return self.positions[loc]
        if self.items is not None and len(loc) >= 2 and loc[0] == "points":
            found = self.items.position(loc)
            if found is not None:
                return found
        if self.unrecorded and self.locate is not None:
            for n in range(len(loc) - 1, -1, -1):
                if loc[:n] in self.unrecorded:
                    found = self.locate(loc)
                    if found is not None:
                        self.positions[loc] = found
                        return found
                    break
        while True:
            if loc in self.positions:
                return self.positions[loc]
            if not loc:
                return None
            loc = loc[:-1]

    def where(self, loc: Loc) -> str:
        pos = self.position(loc)
        return f"{self.path}, line {pos[0]}" if pos else str(self.path)


class _Loader(yaml.SafeLoader):
    pass


if hasattr(yaml, "CSafeLoader"):

    class _FastLoader(yaml.CSafeLoader):  # type: ignore[name-defined, misc]
        pass
else:  # pragma: no cover - PyYAML without libyaml
    _FastLoader = _Loader


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


@contextmanager
def _no_gc() -> Iterator[None]:
    """Loading builds millions of objects (and next to no cycles): the cyclic collector would
    only rescan them over and over (it was most of the time of a large load)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- the general way: nodes, walked once --------------------------------------------------


@dataclass
class _Walk:
    """What walking a tree of nodes found: positions worth recording, and the size."""

    source: Path
    line_offset: int = 0
    positions: dict = field(default_factory=dict)
    unrecorded: set = field(default_factory=set)
    size: int = 0


def _walk(root: yaml.Node, w: _Walk, depth0: int = 0, budget: int = MAX_EXPANDED_NODES) -> None:
    """Record positions, refuse duplicate and non-scalar keys, bound depth and expansion.

    Iterative (no recursion limit to hit); an aliased node's children are walked once.
    Positions are recorded except below a list longer than LONG_LIST (``w.unrecorded``).
    """
    source, off, positions = w.source, w.line_offset, w.positions
    sizes: dict[int, int] = {}  # id(node) -> expanded size, once known
    seen: set[int] = set()
    mapping, sequence, scalar = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode
    stack: list[tuple[yaml.Node, Loc | None, int, bool]] = [(root, (), depth0, False)]
    while stack:
        node, loc, depth, done = stack.pop()
        key = id(node)
        if done:
            if isinstance(node, mapping):
                size = 1 + sum(sizes.get(id(v), 1) for _, v in node.value)
            else:
                size = 1 + sum(sizes.get(id(c), 1) for c in node.value)
            sizes[key] = size
            if size > budget:
                raise SpecError(
                    f"{source}, line {_line(node) + off}: the document expands to more "
                    f"than {MAX_EXPANDED_NODES:,} values (YAML aliases used over "
                    f"and over?); refusing to read it."
                )
            continue
        if loc is not None and loc not in positions:
            positions[loc] = (_line(node) + off, node.start_mark.column + 1)
        if depth > MAX_DEPTH:
            raise SpecError(
                f"{source}, line {_line(node) + off}: nested more than {MAX_DEPTH} levels "
                f"deep; a job spec is never that deep."
            )
        if key in seen:
            continue  # an alias of a node walked already (its size is known)
        seen.add(key)
        if isinstance(node, scalar):
            continue
        stack.append((node, loc, depth, True))
        if isinstance(node, mapping):
            keys: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, scalar):
                    raise SpecError(
                        f"{source}, line {_line(key_node) + off}: a key must be a plain "
                        f"value, not a {'list' if isinstance(key_node, sequence) else 'mapping'}."
                    )
                name = key_node.value
                if name in keys and key_node.tag != "tag:yaml.org,2002:merge":
                    raise SpecError(
                        f"{source}, line {_line(key_node) + off}: duplicate key {name!r} "
                        f"(first given on line {keys[name]})."
                    )
                keys[name] = _line(key_node) + off
                child = None
                if loc is not None:
                    child = loc + (name,)
                    positions[child] = (_line(key_node) + off, key_node.start_mark.column + 1)
                stack.append((value_node, child, depth + 1, False))
        else:
            long = loc is not None and len(node.value) > LONG_LIST
            if long:
                w.unrecorded.add(loc)
            for index, item in enumerate(node.value):
                child = None if loc is None or long else loc + (index,)
                stack.append((item, child, depth + 1, False))
    w.size += sizes.get(id(root), 1)


def _syntax_error(path: Path, exc: yaml.YAMLError, line_offset: int = 0) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        return SpecError(f"{path}{where}: YAML syntax error: {problem}.")
    return SpecError(f"{path}: YAML syntax error: {exc}.")


def _compose(text: str, path: Path, w: _Walk, depth0: int = 0, budget: int = MAX_EXPANDED_NODES):
    """Parse ``text`` into plain data, walking its nodes first (bounds, keys, positions)."""
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: the file is empty; a job spec is a YAML mapping.")
        _walk(node, w, depth0, budget)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise _syntax_error(path, exc, w.line_offset) from None
    except RecursionError:
        raise SpecError(
            f"{path}: nested too deeply to read (more than "
            f"{sys.getrecursionlimit() // 10} levels?)."
        ) from None
    except (TypeError, ValueError) as exc:  # e.g. a value YAML itself cannot construct
        raise SpecError(f"{path}: cannot be read as a job spec ({exc}).") from None
    finally:
        loader.dispose()


def _check_syntax(text: str, path: Path) -> None:
    """Raise the file's first YAML syntax error, reading parser events only (no nodes)."""
    loader = _FastLoader(text)
    try:
        while loader.check_event():
            loader.get_event()
    except yaml.YAMLError as exc:
        raise _syntax_error(path, exc) from None
    finally:
        loader.dispose()


def locate(text: str, loc: Loc) -> tuple[int, int] | None:
    """The position of ``loc`` in ``text`` (or of the deepest part of it found), read from
    the parser's events: constant memory, and it stops at the node found."""
    loader = _FastLoader(text)
    get = loader.get_event
    try:
        while True:
            event = get()
            if isinstance(event, (yaml.NodeEvent, yaml.StreamEndEvent)):
                break
        if not isinstance(event, yaml.NodeEvent):
            return None
        best = (event.start_mark.line + 1, event.start_mark.column + 1)
        for part in loc:
            if isinstance(event, yaml.MappingStartEvent):
                while True:
                    key = get()
                    if isinstance(key, yaml.MappingEndEvent):
                        return best
                    if isinstance(key, yaml.ScalarEvent) and key.value == part:
                        best = (key.start_mark.line + 1, key.start_mark.column + 1)
                        event = get()
                        break
                    _skip(get, key)
                    _skip(get, get())
            elif isinstance(event, yaml.SequenceStartEvent) and isinstance(part, int):
                for _ in range(part):
                    item = get()
                    if isinstance(item, yaml.SequenceEndEvent):
                        return best
                    _skip(get, item)
                event = get()
                if isinstance(event, yaml.SequenceEndEvent):
                    return best
                best = (event.start_mark.line + 1, event.start_mark.column + 1)
            else:
                return best
        return best
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()


def _skip(get, event) -> None:
    """Consume the rest of the node that ``event`` starts."""
    if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        depth = 1
        while depth:
            e = get()
            if isinstance(e, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(e, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1


# -- the inline points scanner ------------------------------------------------------------

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


class _Give(Exception):
    """The scanner does not take this file on: read it the general way."""


class _Scalars:
    """Plain and quoted scalars typed as the YAML loader types them."""

    def __init__(self) -> None:
        self.loader = _FastLoader("")
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
            raise _Give  # e.g. `yes:` is the key True; let the loader say what it makes
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
        lines = _text(data, self.path).split("\n")
        first = self.line(index) - 1
        last = self.line(index + 1) - 1 if index + 1 < self.count else self.end - 1
        found = locate("\n".join(lines[first:last]), (0, *rest))
        return (found[0] + first, found[1]) if found else None


class _Points:
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
        raise _Give
    indent, body = m.group(1), m.group(2)
    keys, raw_keys, end = [], [], 0
    while end < len(body):
        p = _rx().pair.match(body, end)
        if p is None or p.end() == end:
            raise _Give
        raw_keys.append(p.group(1))
        keys.append(scalars.key(p.group(1)))
        end = p.end()
    if not keys or len(set(keys)) != len(keys):
        raise _Give  # `- {}` or a duplicate key: the general way says what it is
    pairs = r"[ ]*,[ ]*".join(f"{re.escape(k)}[ ]*:[ ]+({_VALUE})" for k in raw_keys)
    pattern = f"{indent}- \\{{[ ]*{pairs}[ ]*\\}}" + _END
    return re.compile(_AT_LINE_START + pattern + _not_deeper(indent)), tuple(keys), 1


def _block_signature(text: str, pos: int, scalars: _Scalars) -> tuple[re.Pattern, tuple, int]:
    """The pattern for points shaped as the one at ``pos``: ``- k: v`` and ``  k: v`` lines."""
    m = _rx().block_first.match(text, pos)
    if m is None:
        raise _Give
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
        raise _Give
    lines = [f"{indent}- {re.escape(raw_keys[0])}:[ ]+({_VALUE})" + _END]
    lines += [f"{inner}{re.escape(k)}:[ ]+({_VALUE})" + _END for k in raw_keys[1:]]
    pattern = _AT_LINE_START + "".join(lines) + _not_deeper(indent)
    return re.compile(pattern), tuple(keys), len(raw_keys)


_AT_LINE_START = r"(?<![^\n])"


def _not_deeper(indent: str) -> str:
    """The next line does not go on with the point (a longer value, another key)."""
    return f"(?![ ]{{{len(indent) + 1},}}[^ \\n#])"


def _scan_points(text: str, path: Path, budget: int) -> tuple[int, int, _Points, int] | None:
    """Find a top-level block ``points:`` list and read it: (offset of the key, offset of
    the list's end, the points, their column); None when there is no such list. Raises
    _Give for a list the scanner does not take on.

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
    points = _Points(scalars)
    odd: list[tuple[int, int]] = []  # (offset, line) of points waiting for the loader
    pattern = deeper = None
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
                    and (end == size or deeper.match(text, end) is None)
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
                    raise _Give  # more lines of a point read as done, or no list at all
                indent = start.group(1)
                deeper = re.compile(_not_deeper(indent)[3:-1])
                flow = text.startswith("- {", pos + len(indent))
                try:
                    derive = _flow_signature if flow else _block_signature
                    pattern, keys, height = derive(text, pos, scalars)
                    m = pattern.match(text, pos)
                except _Give:
                    pattern = None
                if m is None:  # a point the loader reads (with the others around it)
                    odd.append((pos, line))
                    pos, line = _odd_extent(text, pos, line, indent)
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


def _load_odd(text: str, path: Path, odd: list, end: int, points: _Points, budget: int) -> None:
    """Points the scanner does not read: the YAML loader reads the run of them."""
    first, line0 = odd[0]
    chunk = text[first:end]
    if _rx().odd_breaks.search(chunk):
        raise _Give  # the loader would count lines otherwise
    w = _Walk(path, line_offset=line0 - 1)
    try:
        data, node = _compose(chunk, path, w, depth0=1, budget=budget - points.size)
    except SpecError as exc:
        if "YAML syntax error" in str(exc):
            raise _Give from None  # maybe a value the split cut in two: the general way
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
        raise _Give
    points.add_rows(data, [item.start_mark.line + line0 for item in node.value], w.size)
    odd.clear()


# -- loading ------------------------------------------------------------------------------


def _text(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: is not UTF-8 text (byte {exc.start}).") from None
    if "\r" in text:  # as reading in text mode does (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Parse ``path`` into plain Python data plus a map of where each value came from."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file.") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    digest = hashlib.sha256(raw).hexdigest()
    text = _text(raw, path)
    del raw
    with _no_gc():
        if "points:" in text:
            try:
                return _load_fast(text, path, digest)
            except _Give:
                pass
        return _load_general(text, path, digest)


def _load_general(text: str, path: Path, digest: str) -> tuple[Any, SourceMap]:
    if len(text) > 1 << 20:
        _check_syntax(text, path)  # a syntax error costs no nodes
    w = _Walk(path)
    data, _ = _compose(text, path, w)
    return data, _source_map(path, w, digest)


def _source_map(path: Path, w: _Walk, digest: str, items: PointLines | None = None) -> SourceMap:
    def locate_in_file(loc: Loc) -> tuple[int, int] | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        return locate(_text(data, path), loc)

    return SourceMap(path, w.positions, items, w.unrecorded, locate_in_file, digest)


def _load_fast(text: str, path: Path, digest: str) -> tuple[Any, SourceMap]:
    """The inline points by the scanner, the rest of the file by the loader (or _Give)."""
    found = _scan_points(text, path, MAX_EXPANDED_NODES)
    if found is None:
        raise _Give
    start, end, points, column = found
    key_line = text.count("\n", 0, start) + 1
    body = text.find("\n", start) + 1
    # The rest of the file, the list's lines left blank (so every line keeps its number).
    rest = text[:body] + "\n" * text.count("\n", body, end) + text[end:]
    w = _Walk(path)
    try:
        data, root = _compose(rest, path, w, budget=MAX_EXPANDED_NODES - points.size)
    except SpecError as exc:
        if "YAML syntax error" in str(exc):
            raise _Give from None  # the general way finds the same error (or none)
        if points.problem is not None and _problem_line(exc) < key_line:
            raise points.problem from None  # the general way walks the later keys first
        raise
    if not (
        isinstance(root, yaml.MappingNode)
        and isinstance(data, dict)
        and data.get("points", 0) is None
        and any(
            k.value == "points"
            and _line(k) == key_line
            and k.start_mark.column == 0
            and not k.style
            and isinstance(v, yaml.ScalarNode)
            and v.value == ""
            for k, v in root.value
        )
    ):
        raise _Give  # `points:` was not the top-level key it looked like
    if points.problem is not None:
        raise points.problem
    if w.size - 1 + points.size > MAX_EXPANDED_NODES:
        raise SpecError(
            f"{path}, line {key_line}: the document expands to more than "
            f"{MAX_EXPANDED_NODES:,} values (YAML aliases used over and over?); refusing "
            f"to read it."
        )
    from superbatch.sequences import PointList

    data["points"] = PointList(points.segments)
    lines = PointLines(points.runs, points.count, column, end_line(text, end), path, digest)
    return data, _source_map(path, w, digest, lines)


def _problem_line(exc: SpecError) -> int:
    found = re.search(r", line (\d+)", str(exc))
    return int(found.group(1)) if found else 0


def end_line(text: str, end: int) -> int:
    return text.count("\n", 0, end) + 1


__all__ = ["SourceMap", "load_yaml", "locate"]
