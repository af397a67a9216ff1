"""YAML loading that can say where any value came from (line and column).

Two ways in, one result:

- An inline ``points:`` list (it may hold millions of points) is read by a scanner
  (:mod:`superbatch.spec.pointscan`) straight into compact columns, for the shapes a generated
  list takes; any other point is read by the YAML loader, a run of such points at a time.
- Everything else goes through the C YAML loader (libyaml) and a walk of its nodes that
  bounds depth and expanded size (:mod:`superbatch.spec.yamlnodes`). Positions are recorded for
  the nodes an error message can name, except below long lists; a position there is found
  when an error needs it, by reading the file again as a stream of parser events.

Whenever the scanner meets something it does not take on (a list that is not a top-level
block ``points:`` key, an alias between a point and the rest of the file, a syntax error that
may come from where it split the points), the whole file goes the second way, which is always
right; a syntax error found that way costs no nodes (the parser's events are read first).
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from superbatch.errors import SpecError
from superbatch.spec.yamlnodes import (
    MAX_EXPANDED_NODES,
    Loc,
    Walk,
    compose,
    decode_text,
    locate,
    node_line,
)

if TYPE_CHECKING:
    from superbatch.spec.pointscan import PointLines


class SourceMap:  # not a dataclass: made at every start-up, ~0.7 ms less
    """Maps a value's path in the document to its 1-based line and column.

    ``positions`` holds what was recorded while loading; ``items`` (where each inline point
    starts) and ``locate`` (a fresh look at the file) answer for the rest.
    """

    __slots__ = ("path", "positions", "items", "unrecorded", "locate", "digest")

    def __init__(
        self,
        path: Path,
        positions: dict[Loc, tuple[int, int]] | None = None,
        items: PointLines | None = None,
        unrecorded: set[Loc] | None = None,  # long lists: children not recorded
        locate: Callable[[Loc], tuple[int, int] | None] | None = None,
        digest: str = "",
    ) -> None:
        self.path = path
        self.positions = {} if positions is None else positions
        self.items = items
        self.unrecorded = set() if unrecorded is None else unrecorded
        self.locate = locate
        self.digest = digest

    def __repr__(self) -> str:
        return f"SourceMap({self.path!r}, {len(self.positions)} positions)"

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


# -- loading ------------------------------------------------------------------------------


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Parse ``path`` into plain Python data plus a map of where each value came from."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file.") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    try:
        return _load(raw, path)
    except MemoryError:
        pass  # raised below, once this frame's references (the text, its nodes) are gone
    del raw
    raise SpecError(
        f"{path}: too large to read in the memory this process has; a long list of points "
        f"belongs in a `points_file` (CSV or JSONL, read a row at a time; docs/spec.md)."
    )


def _load(raw: bytes, path: Path) -> tuple[Any, SourceMap]:
    digest = hashlib.sha256(raw).hexdigest()
    text = decode_text(raw, path)
    with _no_gc():
        if "points:" in text:
            from superbatch.spec.pointscan import GiveUp  # the scanner: for inline points

            try:
                return _load_fast(text, path, digest)
            except GiveUp:
                pass
        return _load_general(text, path, digest)


def _load_general(text: str, path: Path, digest: str) -> tuple[Any, SourceMap]:
    w = Walk(path)
    data, _ = compose(text, path, w)
    return data, _source_map(path, w, digest)


def _source_map(path: Path, w: Walk, digest: str, items: PointLines | None = None) -> SourceMap:
    def locate_in_file(loc: Loc) -> tuple[int, int] | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        return locate(decode_text(data, path), loc)

    return SourceMap(path, w.positions, items, w.unrecorded, locate_in_file, digest)


def _load_fast(text: str, path: Path, digest: str) -> tuple[Any, SourceMap]:
    """The inline points by the scanner, the rest of the file by the loader (or GiveUp)."""
    from superbatch.spec.pointscan import GiveUp, PointLines, scan_points

    found = scan_points(text, path, MAX_EXPANDED_NODES)
    if found is None:
        raise GiveUp
    start, end, points, column = found
    key_line = text.count("\n", 0, start) + 1
    body = text.find("\n", start) + 1
    # The rest of the file, the list's lines left blank (so every line keeps its number).
    rest = text[:body] + "\n" * text.count("\n", body, end) + text[end:]
    w = Walk(path)
    try:
        data, root = compose(rest, path, w, budget=MAX_EXPANDED_NODES - points.size)
    except SpecError as exc:
        if "YAML syntax error" in str(exc):
            raise GiveUp from None  # the general way finds the same error (or none)
        if points.problem is not None and _problem_line(exc) < key_line:
            raise points.problem from None  # the general way walks the later keys first
        raise
    if not (
        isinstance(root, yaml.MappingNode)
        and isinstance(data, dict)
        and data.get("points", 0) is None
        and any(
            k.value == "points"
            and node_line(k) == key_line
            and k.start_mark.column == 0
            and not k.style
            and isinstance(v, yaml.ScalarNode)
            and v.value == ""
            for k, v in root.value
        )
    ):
        raise GiveUp  # `points:` was not the top-level key it looked like
    if points.problem is not None:
        raise points.problem
    if w.size - 1 + points.size > MAX_EXPANDED_NODES:
        raise SpecError(
            f"{path}, line {key_line}: the document expands to more than "
            f"{MAX_EXPANDED_NODES:,} values (YAML aliases used over and over?); refusing "
            f"to read it."
        )
    from superbatch.spec.sequences import PointList

    data["points"] = PointList(points.segments)
    lines = PointLines(points.runs, points.count, column, end_line(text, end), path, digest)
    return data, _source_map(path, w, digest, lines)


def _problem_line(exc: SpecError) -> int:
    found = re.search(r", line (\d+)", str(exc))
    return int(found.group(1)) if found else 0


def end_line(text: str, end: int) -> int:
    return text.count("\n", 0, end) + 1


__all__ = ["SourceMap", "load_yaml", "locate"]
