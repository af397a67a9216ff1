"""The general way to read YAML: the C loader's nodes, walked once within bounds.

The work per document is bounded: each node is walked once (an alias reuses its anchor's
walk), the document's expanded size (what validating it would visit, aliases counted every
time they are used) has a ceiling, and so does its depth. So a 500-byte alias bomb or a
900-level nesting is refused with a message, never a hang, a memory blow-up or a traceback.
Positions are recorded for the nodes an error message can name, except below long lists;
a position there is found when an error needs it (:func:`locate`, parser events only).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from superbatch.errors import SpecError

Loc = tuple  # a path of keys and list indices, e.g. ("azure", "pool", "vm_size")
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 20_000_000
MAX_EXPANDED_CHARS = 64 << 20  # of scalars (keys and values), aliases counted every time
MAX_LOADED_VALUES = 500_000  # the loader holds ~500 bytes per value; more: points_file
CHECKED_FIRST = 1 << 20  # a longer text's events are read first (syntax, values to load)
MERGE = "tag:yaml.org,2002:merge"
LONG_LIST = 1000  # below a longer list, positions are found on demand (not recorded)


class _Loader(yaml.SafeLoader):
    pass


if hasattr(yaml, "CSafeLoader"):

    class FastLoader(yaml.CSafeLoader):  # type: ignore[name-defined, misc]
        pass
else:  # pragma: no cover - PyYAML without libyaml
    FastLoader = _Loader  # type: ignore[misc]  # one name, whichever loader exists


def node_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def decode_text(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: is not UTF-8 text (byte {exc.start}).") from None
    if "\r" in text:  # as reading in text mode does (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


class Walk:  # not a dataclass: made at every start-up, ~0.7 ms less
    """What walking a tree of nodes found: positions worth recording, and the size."""

    __slots__ = ("source", "line_offset", "positions", "unrecorded", "size")

    def __init__(self, source: Path, line_offset: int = 0) -> None:
        self.source = source
        self.line_offset = line_offset
        self.positions: dict = {}
        self.unrecorded: set = set()
        self.size = 0


def walk(root: yaml.Node, w: Walk, depth0: int = 0, budget: int = MAX_EXPANDED_NODES) -> None:
    """Record positions, refuse duplicate and non-scalar keys, bound depth and expansion.

    Iterative (no recursion limit to hit); an aliased node's children are walked once.
    Positions are recorded except below a list longer than LONG_LIST (``w.unrecorded``).
    Depth is the data's: a merge key (``<<: *base``) adds its keys at the level it is on,
    and an alias counts as deep as the node it repeats is tall.
    """
    source, off, positions = w.source, w.line_offset, w.positions
    sizes: dict[int, int] = {}  # id(node) -> expanded size, once known
    chars: dict[int, int] = {}  # id(node) -> expanded characters of its scalars, once known
    heights: dict[int, int] = {}  # id(node) -> levels of data below it, once known
    seen: set[int] = set()
    mapping, sequence, scalar = yaml.MappingNode, yaml.SequenceNode, yaml.ScalarNode
    stack: list[tuple[yaml.Node, Loc | None, int, bool]] = [(root, (), depth0, False)]
    while stack:
        node, loc, depth, done = stack.pop()
        key = id(node)
        if done:
            if isinstance(node, mapping):
                entries = _entries(node)
                size = 1 + sum(sizes.get(id(v), 1) for _, v in entries)
                heights[key] = max(
                    (heights.get(id(v), 0) + (k.tag != MERGE) for k, v in entries), default=0
                )
                text = sum(len(k.value) + _chars(v, chars) for k, v in entries)
            else:
                size = 1 + sum(sizes.get(id(c), 1) for c in node.value)
                heights[key] = 1 + max((heights.get(id(c), 0) for c in node.value), default=0)
                text = sum(_chars(c, chars) for c in node.value)
            sizes[key], chars[key] = size, text
            if size > budget or text > MAX_EXPANDED_CHARS:
                what = (
                    f"{MAX_EXPANDED_NODES:,} values"
                    if size > budget
                    else f"{MAX_EXPANDED_CHARS >> 20} MiB of text"
                )
                raise SpecError(
                    f"{source}, line {node_line(node) + off}: the document expands to more "
                    f"than {what} (YAML aliases used over and over?); refusing to read it."
                )
            continue
        if loc is not None and loc not in positions:
            positions[loc] = (node_line(node) + off, node.start_mark.column + 1)
        if depth + (heights.get(key, 0) if key in seen else 0) > MAX_DEPTH:
            raise SpecError(
                f"{source}, line {node_line(node) + off}: nested more than {MAX_DEPTH} levels "
                f"deep; a job spec is never that deep."
            )
        if key in seen:
            continue  # an alias of a node walked already (its size and height are known)
        seen.add(key)
        if isinstance(node, scalar):
            continue
        stack.append((node, loc, depth, True))
        if isinstance(node, mapping):
            keys: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, scalar):
                    raise SpecError(
                        f"{source}, line {node_line(key_node) + off}: a key must be a plain "
                        f"value, not a {'list' if isinstance(key_node, sequence) else 'mapping'}."
                    )
                name = key_node.value
                if name in keys and key_node.tag != MERGE:
                    raise SpecError(
                        f"{source}, line {node_line(key_node) + off}: duplicate key {name!r} "
                        f"(first given on line {keys[name]})."
                    )
                keys[name] = node_line(key_node) + off
                child = None
                if loc is not None:
                    child = loc + (name,)
                    positions[child] = (node_line(key_node) + off, key_node.start_mark.column + 1)
                if key_node.tag != MERGE:
                    stack.append((value_node, child, depth + 1, False))
                elif isinstance(value_node, sequence):  # `<<: [*a, *b]`: each at this level
                    stack.extend((item, None, depth, False) for item in value_node.value)
                else:  # its keys become this mapping's
                    stack.append((value_node, child, depth, False))
        else:
            long = loc is not None and len(node.value) > LONG_LIST
            if long:
                w.unrecorded.add(loc)
            for index, item in enumerate(node.value):
                child = None if loc is None or long else loc + (index,)
                stack.append((item, child, depth + 1, False))
    w.size += sizes.get(id(root), 1)


def _chars(node: yaml.Node, chars: dict[int, int]) -> int:
    return len(node.value) if isinstance(node, yaml.ScalarNode) else chars.get(id(node), 0)


def _entries(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's (key, value) pairs, a merge of a list (``<<: [*a, *b]``) one per item."""
    return [
        (k, item)
        for k, v in node.value
        for item in (v.value if k.tag == MERGE and isinstance(v, yaml.SequenceNode) else (v,))
    ]


def syntax_error(path: Path, exc: yaml.YAMLError, line_offset: int = 0) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1 + line_offset}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem == "second occurrence" and exc.context_mark:  # a duplicate anchor
            first = exc.context_mark.line + 1 + line_offset
            problem = f"an anchor (&name) given a second time (first on line {first})"
        return SpecError(f"{path}{where}: YAML syntax error: {problem}.")
    return SpecError(f"{path}: YAML syntax error: {exc}.")


def compose(text: str, path: Path, w: Walk, depth0: int = 0, budget: int = MAX_EXPANDED_NODES):
    """Parse ``text`` into plain data, walking its nodes first (bounds, keys, positions).

    A long text's parser events are read first: a syntax error, or more values than the
    loader can hold (MAX_LOADED_VALUES), costs no nodes."""
    if len(text) > CHECKED_FIRST:
        check_syntax(text, path, w.line_offset, MAX_LOADED_VALUES)
    loader = FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: the file is empty; a job spec is a YAML mapping.")
        walk(node, w, depth0, budget)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise syntax_error(path, exc, w.line_offset) from None
    except RecursionError:
        raise SpecError(
            f"{path}: nested too deeply to read (more than "
            f"{sys.getrecursionlimit() // 10} levels?)."
        ) from None
    except (TypeError, ValueError) as exc:  # e.g. a value YAML itself cannot construct
        raise SpecError(f"{path}: cannot be read as a job spec ({exc}).") from None
    finally:
        loader.dispose()


def check_syntax(text: str, path: Path, line_offset: int = 0, most: int = -1) -> None:
    """Raise the file's first YAML syntax error, reading parser events only (no nodes); and
    refuse a text of more than ``most`` values (aliases not counted) if it is given."""
    loader = FastLoader(text)
    get = loader.get_event
    node = yaml.NodeEvent
    left = most if most >= 0 else float("inf")
    try:
        while loader.check_event():  # to the end: a syntax error is said first
            if isinstance(get(), node):
                left -= 1
        if left < 0:
            raise SpecError(
                f"{path}: holds more than {most:,} values where superbatch reads YAML whole "
                f"(each costs ~500 bytes of memory). Put a long list of "
                f"points in a `points_file` (CSV or JSONL, read a row at a time), write it as "
                f"an inline `points:` list with one point per line, or use `range`/`linspace` "
                f"for evenly spaced values (docs/spec.md)."
            )
    except yaml.YAMLError as exc:
        raise syntax_error(path, exc, line_offset) from None
    finally:
        loader.dispose()


def locate(text: str, loc: Loc) -> tuple[int, int] | None:
    """The position of ``loc`` in ``text`` (or of the deepest part of it found), read from
    the parser's events: constant memory, and it stops at the node found."""
    loader = FastLoader(text)
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
