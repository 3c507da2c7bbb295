"""Safe, bounded YAML reading that remembers the line of every value.

Moderators need "file:line: message", and a hostile or broken file must fail fast:
size is capped before parsing, anchors and aliases (the "billion laughs" bomb) are
refused while scanning events, and only YAML's plain data types are constructed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 512 * 1024
# libyaml's parser when PyYAML has it (several times faster); same safe constructor.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class KnowledgeError:
    """One problem a moderator must fix, located in a file."""

    file: Path
    line: int | None
    message: str

    def format(self, root: Path | None = None) -> str:
        """Render as `file:line: message`, the form editors and CI logs link to."""
        shown = self.file
        if root is not None:
            try:
                shown = self.file.relative_to(root)
            except ValueError:
                shown = self.file
        return f"{shown}:{self.line or 1}: {self.message}"


class YamlFileError(Exception):
    """A YAML file could not be read; carries the located error."""

    def __init__(self, error: KnowledgeError) -> None:
        super().__init__(error.format())
        self.error = error


@dataclass(frozen=True)
class YamlDocument:
    """Parsed YAML data plus the line of each value, keyed by its path."""

    file: Path
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """Return the line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: Path) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlFileError(
                    KnowledgeError(
                        file, line, f"duplicate key '{key}' (first on line {seen[key]})"
                    )
                )
            seen[key] = line
            lines[(*path, key)] = line
            _record_lines(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines, file)


def read_yaml(file: Path, *, max_bytes: int = MAX_FILE_BYTES) -> YamlDocument:
    """Read one YAML document safely, or raise YamlFileError with file and line."""
    try:
        with file.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(KnowledgeError(file, None, f"cannot read: {exc.strerror}")) from exc
    if len(raw) > max_bytes:
        raise YamlFileError(
            KnowledgeError(file, None, f"file is larger than {max_bytes // 1024} KiB; refused")
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(KnowledgeError(file, None, "file is not valid UTF-8")) from exc
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor:
                line = event.start_mark.line + 1
                raise YamlFileError(
                    KnowledgeError(file, line, "YAML anchors and aliases are not allowed")
                )
        loader = _SafeLoader(text)  # the safe loader builds plain types only
        try:
            node = loader.get_single_node()
            lines: dict[Path_, int] = {}
            data = None
            if node is not None:
                _record_lines(node, (), lines, file)
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "invalid YAML"
        if isinstance(exc, yaml.constructor.ConstructorError) and exc.problem:
            problem = f"unsupported YAML tag: {exc.problem}"
        context = f" ({exc.context})" if exc.context and "tag" not in problem else ""
        raise YamlFileError(
            KnowledgeError(file, line, f"YAML syntax: {problem}{context}")
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(KnowledgeError(file, None, f"YAML error: {exc}")) from exc
    return YamlDocument(file=file, data=data, lines=lines)
