"""YAML loading that remembers where every value came from (line and column)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from superbatch.errors import SpecError

Loc = tuple  # a path of keys and list indices, e.g. ("azure", "pool", "vm_size")


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


def _record(node: yaml.Node, loc: Loc, positions: dict, source: Path) -> None:
    positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SpecError(
                    f"{source}, line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                    f"(first given on line {seen[key]})."
                )
            seen[key] = key_node.start_mark.line + 1
            _record(value_node, loc + (key,), positions, source)
            positions[loc + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record(item, loc + (i,), positions, source)


def load_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Parse ``path`` into plain Python data plus a map of where each value came from."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot be read ({exc}).") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(f"{path}: the file is empty; a job spec is a YAML mapping.")
        positions: dict[Loc, tuple[int, int]] = {}
        _record(node, (), positions, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"{path}{where}: YAML syntax error: {problem}.") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: YAML syntax error: {exc}.") from None
    finally:
        loader.dispose()
    return data, SourceMap(path=path, positions=positions)
