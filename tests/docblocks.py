"""The fenced examples of README.md and docs/*.md, their markers, and what they name.

A marker is an HTML comment on the lines right above a fence (other comments may sit between):
``<!-- example: not run: REASON -->``, ``<!-- example: checked by PATH -->`` or
``<!-- example: after: SHELL -->`` (run SHELL in the sandbox first, then the block).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from clihelp import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*$")
MARKER = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->$")
SHELL_LANGUAGES = ("sh", "console")


@dataclass(frozen=True)
class Block:
    doc: Path
    line: int  # of the opening fence, 1-based
    lang: str  # "" for an unlabelled block
    text: str
    marker: str | None  # what follows "example:" in the marker, if there is one

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        """A shell block: ``sh``, ``console``, or an unlabelled block of commands only."""
        if self.lang in SHELL_LANGUAGES:
            return True
        lines = [line for line in self.text.splitlines() if line.strip()]
        commands = all(line.startswith(("superbatch ", "$ ")) for line in lines)
        return self.lang == "" and bool(lines) and commands

    @property
    def not_run(self) -> str | None:
        """The reason given by a ``not run:`` marker ("" when it gives none)."""
        if self.marker is None or not self.marker.startswith("not run"):
            return None
        return self.marker.removeprefix("not run").lstrip(":").strip()

    @property
    def checked_by(self) -> str | None:
        if self.marker is None or not self.marker.startswith("checked by"):
            return None
        return self.marker.removeprefix("checked by").strip()

    @property
    def after(self) -> str | None:
        if self.marker is None or not self.marker.startswith("after:"):
            return None
        return self.marker.removeprefix("after:").strip()


def blocks(docs: list[Path] = DOCS) -> list[Block]:
    found = []
    for doc in docs:
        lines = doc.read_text().splitlines()
        i = 0
        while i < len(lines):
            opening = FENCE.match(lines[i])
            if not opening:
                i += 1
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append(
                Block(
                    doc, i + 1, opening[1], "\n".join(lines[i + 1 : end]) + "\n", _marker(lines, i)
                )
            )
            i = end + 1
    return found


def _marker(lines: list[str], fence: int) -> str | None:
    """The example marker among the HTML comments right above line ``fence``."""
    i = fence - 1
    while i >= 0 and lines[i].startswith("<!--") and lines[i].endswith("-->"):
        found = MARKER.match(lines[i])
        if found:
            return found[1]
        i -= 1
    return None


def command_lines(block: Block) -> list[str]:
    """The shell commands of a block (a console block's are its ``$ `` lines)."""
    lines = block.text.splitlines()
    if block.lang == "console" or any(line.startswith("$ ") for line in lines):
        return [line[2:] for line in lines if line.startswith("$ ")]
    return lines


def superbatch_invocations(block: Block) -> list[list[str]]:
    """Each ``superbatch ...`` command of a shell block: the words after ``superbatch``, up to
    the shell's next operator."""
    found = []
    for line in command_lines(block):
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            words = list(lexer)
        except ValueError:  # a quote spanning lines: not a superbatch command line
            continue
        for k, word in enumerate(words):
            if Path(word).name == "superbatch":
                rest = words[k + 1 :]
                stop = next((n for n, w in enumerate(rest) if set(w) <= set("|&;<>()")), None)
                found.append(rest[:stop])
    return found


def unknown_words(argv: list[str]) -> list[str]:
    """The command or options of ``superbatch ARGV`` that the command line does not have,
    read from click's definitions (nothing runs)."""
    from batch_emulator.cli import emulator_command
    from superbatch.cli import cli

    if not argv or argv[0].startswith("-"):
        return []
    command = cli.get_command(None, argv[0])
    if command is None:
        return [argv[0]]
    if argv[0] == "emulator":
        command = emulator_command
    known = {"--help", "-h"}
    for param in command.params:
        known.update(param.opts, param.secondary_opts)
    options = [w.split("=", 1)[0] for w in argv[1:] if w.startswith("-") and w != "-"]
    return [o for o in options if o not in known and not re.fullmatch(r"-\d+(\.\d+)?", o)]


def schema_paths(schema: dict) -> set[str]:
    """Every property of a JSON Schema as a dotted path (``*`` for a free-form key)."""
    definitions = schema.get("$defs", {})
    paths: set[str] = set()

    def walk(node: dict, prefix: str, seen: tuple[str, ...]) -> None:
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                walk(definitions[name], prefix, (*seen, name))
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                walk(option, prefix, seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], prefix, seen)
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            walk(sub, path, seen)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            walk(extra, f"{prefix}.*" if prefix else "*", seen)

    walk(schema, "", ())
    return paths


KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w]*):(?:\s+(.*))?$")


def written_paths(yaml_text: str) -> set[str]:
    """The dotted paths of the keys a YAML block writes, commented-out keys (``# points: ...``)
    and keys inside flow mappings (``{range: [0, 10]}``) included."""
    import yaml

    paths: set[str] = set()
    stack: list[tuple[int, str]] = []  # (indent, path) of the open mappings
    for line in yaml_text.splitlines():
        found = KEY_LINE.match(re.sub(r"^(\s*)# ?", r"\1", line))  # a key commented out
        if not found:
            continue
        indent, key, value = len(found[1]), found[2], (found[3] or "").split(" #", 1)[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = f"{stack[-1][1]}.{key}" if stack else key
        paths.add(path)
        stack.append((indent, path))
        if value.strip().startswith("{"):
            try:
                flow = yaml.safe_load(value)
            except yaml.YAMLError:
                continue
            paths.update(_nested(flow, path))
    return paths


def _nested(value, prefix: str) -> set[str]:
    if not isinstance(value, dict):
        if isinstance(value, list):
            return set().union(*(_nested(v, prefix) for v in value)) if value else set()
        return set()
    found = set()
    for key, sub in value.items():
        found.add(f"{prefix}.{key}")
        found |= _nested(sub, f"{prefix}.{key}")
    return found


def covers(written: set[str], path: str) -> bool:
    """Whether a written path matches a schema path (``*`` matching any one key)."""
    pattern = re.compile(r"\.".join("[^.]+" if p == "*" else re.escape(p) for p in path.split(".")))
    return any(pattern.fullmatch(w) for w in written)
