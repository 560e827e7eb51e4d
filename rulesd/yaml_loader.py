"""A strict YAML reader: YAML 1.2 scalars, no duplicate keys, a mark for every node.

PyYAML follows YAML 1.1, where `on:` is the boolean True, `yes`/`no`/`off` are
booleans and `0123` is octal. Here only `true`/`false` are booleans, integers
are decimal (or 0x/0o prefixed), and duplicate keys are errors.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, Protocol

import attrs
import yaml

Path = tuple[str | int, ...]


class Report(Protocol):
    """Where checks send problems: a path into the document and a message;
    `at_key` points it at the key rather than its value."""

    def __call__(self, path: Path, message: str, at_key: bool = False) -> None: ...


@attrs.frozen
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@attrs.frozen
class Problem:
    """One thing wrong with a rules file, located for `file:line:col` output."""

    file: str
    mark: Mark | None
    message: str

    def __str__(self) -> str:
        if self.mark is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.mark.line}:{self.mark.col}: {self.message}"


def describe_value(value: Any) -> str:
    """A YAML value as a problem message names it."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


class ConfigError(Exception):
    """Every problem found in a rules file."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@attrs.frozen
class Document:
    """Plain data loaded from YAML, with marks of values and keys by path."""

    data: Any
    file: str
    # (line, column) by path, 1-based; made a Mark only for a problem.
    value_marks: dict[Path, tuple[int, int]]
    key_marks: dict[Path, tuple[int, int]]
    # Parts that came from other files (`include`): path prefix → that file.
    files: dict[Path, str] = attrs.field(factory=dict)

    def file_of(self, path: Path) -> str:
        if self.files:
            for end in range(len(path), 0, -1):
                file = self.files.get(path[:end])
                if file is not None:
                    return file
        return self.file

    def mark(self, path: Path) -> Mark | None:
        """The mark of the value at `path`, else of the nearest enclosing node."""
        while True:
            if path in self.key_marks:
                return Mark(*self.value_marks.get(path, self.key_marks[path]))
            if path in self.value_marks:
                return Mark(*self.value_marks[path])
            if not path:
                return None
            path = path[:-1]

    def key_mark(self, path: Path) -> Mark | None:
        at = self.key_marks.get(path)
        return Mark(*at) if at else self.mark(path)

    def problem(self, path: Path, message: str, *, at_key: bool = False) -> Problem:
        mark = self.key_mark(path) if at_key else self.mark(path)
        return Problem(self.file_of(path), mark, message)


_BOOL: Final = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT: Final = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT: Final = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL: Final = re.compile(r"^(?:~|null|Null|NULL|)$")

_TAG_BOOL: Final = "tag:yaml.org,2002:bool"
_TAG_INT: Final = "tag:yaml.org,2002:int"
_TAG_FLOAT: Final = "tag:yaml.org,2002:float"
_TAG_NULL: Final = "tag:yaml.org,2002:null"
_TAG_STR: Final = "tag:yaml.org,2002:str"
_PLAIN: Final = "tag:rulesd,plain"  # a plain scalar, typed by _plain_tag


# libyaml's parser when PyYAML was built with it (ten times faster on a large
# file); the resolution of plain scalars is ours either way.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """A safe loader whose implicit resolvers follow the YAML 1.2 core schema."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """Plain scalars are typed by `_Builder` (one regex pass); quoted ones are strings."""
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _TAG_STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return]


def _mark(node: yaml.Node) -> Mark:
    return Mark(*_at(node))


def _at(node: yaml.Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _plain_tag(value: str) -> str:
    """The YAML 1.2 core schema's tag of a plain scalar."""
    first = value[:1]
    if first in "tTfF" and _BOOL.match(value):
        return _TAG_BOOL
    if first in "-+0123456789" and _INT.match(value):
        return _TAG_INT
    if first in "-+0123456789." and _FLOAT.match(value):
        return _TAG_FLOAT
    if first in "~nN" and _NULL.match(value):
        return _TAG_NULL
    if value == "<<":
        return "tag:yaml.org,2002:merge"
    return _TAG_STR


# A rules file is a few levels deep and a few thousand nodes per thousand rules: much
# more is a mistake or an attack (a recursive alias, an alias bomb).
MAX_DEPTH: Final = 64
MAX_NODES: Final = 1_000_000
_TOO_DEEP: Final = f"nested deeper than {MAX_DEPTH} levels (a recursive alias?)"


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.nodes = 0
        self.value_marks: dict[Path, tuple[int, int]] = {}
        self.key_marks: dict[Path, tuple[int, int]] = {}
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError([Problem(self.file, _mark(node), f"more than {MAX_NODES} "
                                       "values: an alias expanding without bound?")])
        if len(path) > MAX_DEPTH:
            raise ConfigError([Problem(self.file, _mark(node), _TOO_DEEP)])
        mark = node.start_mark
        self.value_marks[path] = (mark.line + 1, mark.column + 1)
        kind = type(node)  # exact types: faster than isinstance on 100k nodes
        if kind is yaml.ScalarNode:
            return self._scalar(node)  # type: ignore[arg-type]
        if kind is yaml.MappingNode:
            return self._mapping(node, path)  # type: ignore[arg-type]
        assert kind is yaml.SequenceNode
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]

    def _merged(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        """What the mapping's merge keys (`<<: *base`, `<<: [*a, *b]`) bring, each
        value marked where it is written (the anchor's lines); earlier sources win."""
        sources: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if type(key_node) is yaml.ScalarNode and key_node.tag == _PLAIN \
                    and key_node.value == "<<":
                items = value_node.value if type(value_node) is yaml.SequenceNode \
                    else [value_node]
                for item in items:
                    if type(item) is yaml.MappingNode:
                        sources.append(item)
                    else:
                        self._bad(item, "<< merges a mapping (or a list of mappings) "
                                        "into this one")
        merged: dict[Any, Any] = {}
        for source in reversed(sources):  # the first source's values (and marks) last
            merged.update(self._mapping(source, path))
        return merged

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        merged = self._merged(node, path) if any(
            type(k) is yaml.ScalarNode and k.value == "<<" and k.tag == _PLAIN
            for k, _ in node.value) else None
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is yaml.ScalarNode and key_node.tag == _PLAIN:
                key = key_node.value  # the common case: a plain key, a string
                if key == "<<":
                    continue  # merged above; keys written here win
                tag = _plain_tag(key)
                if tag != _TAG_STR:
                    key = self._scalar(key_node)
            else:
                key = self.build(key_node, (*path, "<key>"))
                self.value_marks.pop((*path, "<key>"), None)
            if not isinstance(key, str | int):
                self._bad(key_node, "a mapping key must be a plain string")
                continue
            key = str(key)
            at = (*path, key)
            if key in out:
                first_line = self.key_marks[at][0]
                self._bad(key_node, f"duplicate key {key!r} (first defined at line "
                                    f"{first_line})")
                continue
            mark = key_node.start_mark
            self.key_marks[at] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, at)
        if merged:
            for key, value in merged.items():
                out.setdefault(key, value)
        return out

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value: str = node.value
        tag = node.tag
        if tag == _PLAIN:
            tag = _plain_tag(value)
        if tag == _TAG_BOOL:
            return value.lower() == "true"
        if tag == _TAG_INT:
            if not _INT.match(value):
                return self._bad(node, f"{value!r} is not an integer")
            return int(value, 0) if value[:2] in ("0o", "0x") else int(value, 10)
        if tag == _TAG_FLOAT:
            if value.lower().lstrip("+-") == ".inf":
                return -math.inf if value.startswith("-") else math.inf
            if value.lower() == ".nan":
                return math.nan
            try:
                return float(value)
            except ValueError:
                return self._bad(node, f"{value!r} is not a number")
        if tag == _TAG_NULL:
            return None
        if tag == _TAG_STR or not tag.startswith("tag:yaml.org"):
            return value
        return self._bad(node, f"unsupported YAML tag {tag}")

    def _bad(self, node: yaml.Node, message: str) -> None:
        self.problems.append(Problem(self.file, _mark(node), message))
        return None


def load(text: str, file: str) -> Document:
    """Parse YAML text into plain data with marks; raise ConfigError on any fault."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else None
        reason = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in reason:
            # libyaml (PyYAML 6.0.4 and newer) refuses deep nesting before our own check
            # does; the user reads the same words whichever layer noticed first.
            raise ConfigError([Problem(file, where, _TOO_DEEP)]) from exc
        raise ConfigError([Problem(file, where, f"YAML syntax error: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, f"YAML error: {exc}")]) from exc
    builder = _Builder(file)
    data = builder.build(root, ()) if root is not None else None
    if builder.problems:
        raise ConfigError(builder.problems)
    return Document(data, file, builder.value_marks, builder.key_marks)
