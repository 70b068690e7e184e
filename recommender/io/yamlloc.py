"""YAML/JSON documents as plain Python values plus the line of every field.

Why this exists: an invalid policy must be reported as ``FILE:LINE field.path:
reason`` like a compiler would, but ``yaml.safe_load`` throws the positions
away. We let libyaml *compose* the node graph (``yaml.compose_all`` with the
C loader when available, so it stays fast), then build the plain values
ourselves and record, for every field path such as
``("spec", "ingress", 0, "from", 0)``, the 1-based line where it is written.

Values come out exactly as ``yaml.safe_load`` would produce them (YAML 1.1
resolution: an unquoted ``true`` is a bool, ``2001-01-01`` a date), so the
validator can report "must be a string" where the API server would refuse the
document. Duplicate keys are an error here (libyaml silently keeps the last
one, kubectl refuses them); ``<<`` merge keys are supported.
"""

from __future__ import annotations

import codecs
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recommender.errors import PolicyError

FieldPath = tuple[str | int, ...]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# A plain "=" resolves to YAML 1.1's "value" type, which the safe loader cannot
# build; every Kubernetes client reads it as the string "=".
_AS_TEXT = frozenset({_STR_TAG, "tag:yaml.org,2002:value"})
_MAX_DEPTH = 64
_MAX_NODES = 2_000_000  # per document: stops "billion laughs" alias bombs


def render_path(path: FieldPath) -> str:
    """``("spec", "ingress", 0, "from")`` → ``spec.ingress[0].from``; map keys that
    are not identifiers (label keys) are rendered in brackets: ``matchLabels[app.io/x]``."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{part}]")
    return "".join(out)


@dataclass
class Located:
    """One document: its plain value, the line it starts on, and field lines."""

    value: Any
    file: str | None = None
    line: int | None = None
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its closest written ancestor (a missing
        field is reported where its parent is)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return self.line


class _Builder:
    """Turns a composed node graph into plain values, recording lines."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.constructor = yaml.constructor.SafeConstructor()
        self.lines: dict[FieldPath, int] = {}
        self.budget = _MAX_NODES

    def fail(self, node: yaml.Node, path: FieldPath, reason: str) -> PolicyError:
        return PolicyError(reason, file=self.file, line=node.start_mark.line + 1, path=render_path(path) or None)

    def build(self, node: yaml.Node, path: FieldPath, depth: int = 0) -> Any:
        self.budget -= 1
        if self.budget < 0 or depth > _MAX_DEPTH:
            raise self.fail(node, path, "document is nested too deeply or expands too many aliases")
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _AS_TEXT:
                return node.value
            try:
                return self.constructor.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                raise self.fail(node, path, f"cannot read scalar: {getattr(exc, 'problem', exc)}") from None
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, child in enumerate(node.value):
                self.lines[path + (i,)] = child.start_mark.line + 1
                items.append(self.build(child, path + (i,), depth + 1))
            return items
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path, depth)
        raise self.fail(node, path, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover

    def build_mapping(self, node: yaml.MappingNode, path: FieldPath, depth: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        raise self.fail(src, path, "a << merge key needs a mapping or a list of mappings")
                    merged.append(src)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, path, "mapping keys must be scalars")
            key = self.build(key_node, path, depth + 1)
            if key in result:
                raise self.fail(key_node, path + (str(key),), f"duplicate key {key!r}")
            child = path + (key if isinstance(key, str) else str(key),)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child, depth + 1)
        for src in merged:  # explicit keys win over merged ones, earlier merges over later
            for key, value in self.build_mapping(src, path, depth + 1).items():
                result.setdefault(key, value)
        return result


class YAMLSyntaxError(PolicyError):
    """The text is not YAML at all (as opposed to a YAML document we refuse)."""


def _syntax_error(exc: yaml.YAMLError, file: str | None) -> YAMLSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    reason = f"invalid YAML: {context + ', ' if context else ''}{problem}"
    return YAMLSyntaxError(reason, file=file, line=line, hint="fix the YAML syntax (indentation, quoting) at that line")


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: composing a large document allocates
    hundreds of thousands of nodes, and the collector's repeated passes over
    them tripled the load time of a 2,000-policy ``kind: List``."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def iter_documents(text: str, file: str | None = None) -> Iterator[Located]:
    """Every non-empty document of a YAML (or JSON) stream, with field lines."""
    try:
        for node in yaml.compose_all(text, Loader=_LOADER):
            if node is None:
                continue
            builder = _Builder(file)
            value = builder.build(node, ())
            if value is None:
                continue
            yield Located(value, file, node.start_mark.line + 1, builder.lines)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file) from None


def load_text(text: str, file: str | None = None) -> list[Located]:
    """Documents of ``text``. JSON is read as YAML (it nearly is), so errors
    keep their lines; JSON that libyaml cannot parse falls back to
    ``json.loads`` with the document line only. Duplicate keys are refused in
    both."""
    try:
        with no_gc():
            return list(iter_documents(text, file))
    except YAMLSyntaxError:
        stripped = text.lstrip()
        if not stripped.startswith(("{", "[")):
            raise
        try:
            value = json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"invalid JSON: {exc.msg}", file=file, line=exc.lineno) from None
        return [Located(value, file, 1, {})]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise json.JSONDecodeError(f"duplicate key {key!r}", "", 0)
        result[key] = value
    return result


def load_file(path: Path) -> list[Located]:
    """Read ``path`` and return its documents. UTF-8 with or without BOM, and
    UTF-16 with a BOM (what ``kubectl … > file`` writes in Windows PowerShell)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not {encoding.upper().removesuffix('-SIG')} text (byte {exc.start})", file=str(path)) from None
    return load_text(text, str(path))
