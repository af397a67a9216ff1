"""YAML loading that remembers where every value came from (line and column).

The work per spec is bounded: each node is walked once (an alias reuses its anchor's walk),
the document's expanded size (what validating it would visit, aliases counted every time they
are used) has a ceiling, and so does its depth. So a 500-byte alias bomb or a 900-level
nesting is refused with a message, never a hang, a memory blow-up or a traceback.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from superbatch.errors import SpecError

Loc = tuple  # a path of keys and list indices, e.g. ("azure", "pool", "vm_size")
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 20_000_000


@dataclass
class SourceMap:
    """Maps a value's path in the document to its 1-based line and column."""

    path: Path
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """The position of ``loc``, or of its nearest ancestor that has one."""
        loc = tuple(loc)
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


def _walk(root: yaml.Node, positions: dict, source: Path) -> None:
    """Record positions, refuse duplicate and non-scalar keys, bound depth and expansion.

    Iterative (no recursion limit to hit); an aliased node's children are walked once.
    """
    sizes: dict[int, int] = {}  # id(node) -> expanded size, once known
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc, int, bool]] = [(root, (), 0, False)]
    while stack:
        node, loc, depth, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for _, c in children)
            if sizes[key] > MAX_EXPANDED_NODES:
                raise SpecError(
                    f"{source}, line {_line(node)}: the document expands to more "
                    f"than {MAX_EXPANDED_NODES:,} values (YAML aliases used over "
                    f"and over?); refusing to read it."
                )
            continue
        if loc not in positions:
            positions[loc] = (_line(node), node.start_mark.column + 1)
        if depth > MAX_DEPTH:
            raise SpecError(
                f"{source}, line {_line(node)}: nested more than {MAX_DEPTH} levels "
                f"deep; a job spec is never that deep."
            )
        if key in seen:
            continue  # an alias of a node walked already (its size is known)
        seen.add(key)
        stack.append((node, loc, depth, True))
        if isinstance(node, yaml.MappingNode):
            keys: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise SpecError(
                        f"{source}, line {_line(key_node)}: a key must be a plain "
                        f"value, not a {'list' if isinstance(key_node, yaml.SequenceNode) else 'mapping'}."
                    )
                name = key_node.value
                if name in keys and key_node.tag != "tag:yaml.org,2002:merge":
                    raise SpecError(
                        f"{source}, line {_line(key_node)}: duplicate key {name!r} "
                        f"(first given on line {keys[name]})."
                    )
                keys[name] = _line(key_node)
                positions[loc + (name,)] = (_line(key_node), key_node.start_mark.column + 1)
                stack.append((value_node, loc + (name,), depth + 1, False))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                stack.append((item, loc + (index,), depth + 1, False))


def _children(node: yaml.Node) -> list[tuple[Any, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        return [(k.value, v) for k, v in node.value]
    if isinstance(node, yaml.SequenceNode):
        return list(enumerate(node.value))
    return []


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Parse ``path`` into plain Python data plus a map of where each value came from."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file.") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: is not UTF-8 text (byte {exc.start}).") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    loader = _FastLoader(text)
    positions: dict[Loc, tuple[int, int]] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: the file is empty; a job spec is a YAML mapping.")
        _walk(node, positions, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"{path}{where}: YAML syntax error: {problem}.") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: YAML syntax error: {exc}.") from None
    except RecursionError:
        raise SpecError(
            f"{path}: nested too deeply to read (more than "
            f"{sys.getrecursionlimit() // 10} levels?)."
        ) from None
    except (TypeError, ValueError) as exc:  # e.g. a value YAML itself cannot construct
        raise SpecError(f"{path}: cannot be read as a job spec ({exc}).") from None
    finally:
        loader.dispose()
    return data, SourceMap(path=path, positions=positions)
