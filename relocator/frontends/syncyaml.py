"""Reading a sync config's YAML as its source text, and checking it against a shipped JSON Schema.

A tag, a pattern, a range or a repository is text: ``1.10`` is the tag "1.10", not the number 1.1
(skopeo and regsync decode these fields into Go strings, which keep what was written). So the file
is loaded with every scalar kept as written (``load_text``), and ``typed`` gives the YAML 1.2 core
schema's view of it (yaml.org/spec/1.2.2 section 10.3.2: ints, floats, booleans, null) for the
schema check and for the few fields that are numbers or booleans (``core``). An error is one
InputError line: ``FILE:LINE: KEY.PATH: what is wrong``, values shown as written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from relocator.errors import InputError

__all__ = ["check", "core", "is_null", "line", "load_text", "shown", "typed"]

_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                    r"|\.(?:nan|NaN|NAN)")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}


class _TextResolver(VersionedResolver):
    """Every plain scalar resolves to a string; ``<<`` keeps its merge meaning."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and value != "<<":
            implicit = (False, False)
        return super().resolve(kind, value, implicit)


def load_text(text: str, name: str) -> Any:
    """The YAML document with every scalar a ``str`` as written (plain ones exactly ``str``, quoted
    ones a ruamel ScalarString), in ruamel's round-trip containers, which know their lines.
    Raises InputError naming ``name`` and the line for invalid YAML."""
    yaml = YAML(typ="rt")
    yaml.Resolver = _TextResolver
    yaml.preserve_quotes = True  # a quoted scalar stays a ScalarString: always text, never a number
    try:
        return yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"{name}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from None


def core(value: Any) -> Any:
    """A scalar as the YAML 1.2 core schema reads it: a plain ``0x1F`` is 31, ``true`` True,
    ``~`` None; a quoted one stays text."""
    if type(value) is not str:
        return value
    if value in _NULL:
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.fullmatch(value):
        base = {"0o": 8, "0x": 16}.get(value[:2], 10)
        return int(value[2:] if base != 10 else value, base)
    if _FLOAT.fullmatch(value):
        return float(value.replace("inf", "Inf").replace("nan", "NaN").lower())
    return value


def is_null(value: Any) -> bool:
    """True for a plain ``null``, ``~`` or an empty value."""
    return type(value) is str and value in _NULL


def typed(node: Any) -> Any:
    """The document as plain JSON values, scalars read by ``core`` (keys stay text)."""
    if isinstance(node, Mapping):
        return {str(k): typed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [typed(v) for v in node]
    return core(node)


def shown(node: Any) -> str:
    """A value as written in YAML flow style: ``lots``, ``[a, b]``, ``{source: x}``."""
    if isinstance(node, Mapping):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(shown(v) for v in node) + "]"
    return str(node) if str(node) else "null (empty)"


def line(doc: Any, path: Sequence[Any]) -> int:
    """The 1-based line of the key or item at ``path`` (its parent's line when ruamel has none)."""
    node, at = doc, 1
    for part in path:
        if not isinstance(node, CommentedBase):
            break
        try:
            position = node.lc.key(part) if isinstance(node, Mapping) else node.lc.item(part)
            at = position[0] + 1
            node = node[part]  # type: ignore[index]  # a CommentedMap or CommentedSeq
        except (KeyError, IndexError, TypeError):
            break
    return at


@cache
def _schema(filename: str) -> dict[str, Any]:
    raw = resources.files("relocator.frontends").joinpath(filename).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(raw)
    return schema


_KINDS = {"string": "text", "number": "text", "boolean": "true or false", "integer": "a whole number",
          "array": "a list", "object": "a mapping", "null": "nothing"}
_UNEXPECTED = re.compile(r"'([^']*)' (?:was|were) unexpected|'([^']*)'(?:, '[^']*')* (?:was|were) unexpected")


def check(name: str, doc: Any, schema_file: str) -> None:
    """Check ``doc`` (from ``load_text``) against the shipped JSON Schema ``schema_file``
    (jsonschema, draft 2020-12). Raises InputError ``FILE:LINE: PATH: reason`` for the most
    relevant error; an unknown key is named at its own line."""
    import jsonschema  # only sync needs it: keeps every other command's start-up lean

    validator = jsonschema.Draft202012Validator(_schema(schema_file))
    error = jsonschema.exceptions.best_match(validator.iter_errors(typed(doc)))
    if error is None:
        return
    path = list(error.absolute_path)
    node = doc
    for part in path:
        node = node[part]
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        found = _UNEXPECTED.search(error.message)
        if found is not None:
            path.append(found[1] or found[2])
            key = ".".join(str(p) for p in path)
            raise InputError(f"{name}:{line(doc, path)}: {key}: unknown key here")
    key = ".".join(str(p) for p in path) or "top level"
    if error.validator == "type":
        kinds = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        if "string" in kinds:  # a text field takes any scalar, read as written
            kinds = ["string", *(k for k in kinds if k not in ("string", "number", "boolean", "null"))]
        wanted = " or ".join(dict.fromkeys(_KINDS.get(str(k), str(k)) for k in kinds))
        reason = f"expected {wanted}, got {shown(node)}"
    elif error.validator == "enum":
        reason = f"{shown(node)}: want one of {', '.join(map(str, error.validator_value))}"
    elif error.validator == "const":
        reason = f"{shown(node)}: want {error.validator_value}"
    elif error.validator == "required":
        reason = error.message
    else:  # jsonschema starts its messages with the value's Python repr: show it as written instead
        reason = error.message.removeprefix(repr(error.instance)).strip()
        reason = f"{shown(node)} {reason}" if reason != error.message else f"{shown(node)}: {reason}"
    raise InputError(f"{name}:{line(doc, path)}: {key}: {reason}")
