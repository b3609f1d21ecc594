"""Parse YAML into a small line-aware tree, rejecting what rule data must never use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import yaml
from yaml import events as ev
from yaml.resolver import Resolver

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 40

_PARSER_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_SCALAR_TYPES = {
    "tag:yaml.org,2002:str": "string",
    "tag:yaml.org,2002:int": "integer",
    "tag:yaml.org,2002:float": "number",
    "tag:yaml.org,2002:bool": "boolean",
    "tag:yaml.org,2002:null": "null",
}


class YamlError(Exception):
    """A file that cannot be turned into a tree at all; carries the 1-based line."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Scalar:
    """A scalar with its resolved YAML 1.1 type name and raw text."""

    line: int
    value: object
    type: str
    text: str


@dataclass
class Seq:
    """A YAML sequence."""

    line: int
    items: list = field(default_factory=list)


@dataclass
class Map:
    """A YAML mapping with string keys; `key_lines` remembers where each key stands."""

    line: int
    items: dict = field(default_factory=dict)
    key_lines: dict = field(default_factory=dict)


Node = Union[Scalar, Seq, Map]


def _convert_scalar(event: ev.ScalarEvent) -> Scalar:
    line = event.start_mark.line + 1
    if event.style is None or event.style == "":
        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
    else:
        tag = "tag:yaml.org,2002:str"
    kind = _SCALAR_TYPES.get(tag, "string")
    text = event.value
    if kind == "string":
        value: object = text
    else:
        # PyYAML's own constructors give the exact YAML 1.1 meaning (0123 is 83, NO is false).
        value = _CONSTRUCTOR.construct_object(yaml.ScalarNode(tag, text))
    return Scalar(line, value, kind, text)


def parse_yaml(data: bytes) -> Node:
    """Parse one YAML document from bytes into a tree; raise YamlError with a line on any problem."""
    if len(data) > MAX_FILE_BYTES:
        raise YamlError(1, f"file is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise YamlError(line, "binary content (NUL byte); rule files must be UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})") from None
    if text.startswith("\ufeff"):
        text = text[1:]

    stack: list = []
    keys: list = []
    root: Node | None = None
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_PARSER_LOADER):
            if isinstance(event, ev.AliasEvent):
                raise YamlError(event.start_mark.line + 1, f"YAML alias '*{event.anchor}' is not allowed in rule files")
            if isinstance(event, (ev.ScalarEvent, ev.SequenceStartEvent, ev.MappingStartEvent)):
                line = event.start_mark.line + 1
                if event.anchor is not None:
                    raise YamlError(line, f"YAML anchor '&{event.anchor}' is not allowed in rule files")
                if event.tag not in (None, "!"):
                    raise YamlError(line, f"YAML tag '{event.tag}' is not allowed in rule files")
                if isinstance(event, ev.ScalarEvent):
                    node: Node = _convert_scalar(event)
                elif isinstance(event, ev.SequenceStartEvent):
                    node = Seq(line)
                else:
                    node = Map(line)
                if stack:
                    parent = stack[-1]
                    if isinstance(parent, Seq):
                        parent.items.append(node)
                    elif keys[-1] is None:
                        if not isinstance(node, Scalar) or node.type not in ("string", "integer"):
                            raise YamlError(line, "mapping keys must be plain strings")
                        key = str(node.value)
                        if key in parent.items:
                            raise YamlError(line, f"duplicate key '{key}' (first at line {parent.key_lines[key]})")
                        keys[-1] = (key, line)
                        continue
                    else:
                        key, key_line = keys[-1]
                        parent.items[key] = node
                        parent.key_lines[key] = key_line
                        keys[-1] = None
                elif root is None:
                    root = node
                if isinstance(node, (Seq, Map)):
                    if len(stack) >= MAX_DEPTH:
                        raise YamlError(line, f"nesting deeper than {MAX_DEPTH} levels")
                    stack.append(node)
                    keys.append(None)
            elif isinstance(event, (ev.SequenceEndEvent, ev.MappingEndEvent)):
                stack.pop()
                keys.pop()
            elif isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise YamlError(event.start_mark.line + 1, "only one YAML document per file is allowed")
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlError(line, f"invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors without marks
        raise YamlError(1, f"invalid YAML: {exc}") from None
    if root is None:
        raise YamlError(1, "file is empty")
    return root
