"""YAML round trip for resolve: find image references, replace them, keep everything else.

Comments, key order, quoting, anchors and document separators survive (ruamel.yaml round-trip
mode). kbld ``Config`` documents are read for search rules and overrides, then dropped from the
output as kbld does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.tokens import CommentToken

from relocator.errors import InputError

__all__ = ["KBLD_API", "Occurrence", "Override", "SearchRules", "YamlFile", "is_kbld_config", "overrides_of"]

KBLD_API = "kbld.k14s.io/v1alpha1"
PathPart = str | int


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One image reference in a document: where, and the mapping that holds it."""

    document: int
    path: tuple[PathPart, ...]
    value: str
    holder: Any
    key: Any

    @property
    def where(self) -> str:
        """``document 2: spec.containers[0].image`` for error messages."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        return f"document {self.document}: {text}"

    def replace(self, new: str) -> None:
        """Put ``new`` where the reference was, keeping its quoting style and the spaces before a
        comment on the same line (ruamel keeps a comment's column, not its distance)."""
        old = self.holder[self.key]
        self.holder[self.key] = type(old)(new) if isinstance(old, ScalarString) else new
        comments = getattr(self.holder, "ca", None)
        slots = comments.items.get(self.key) if comments is not None else None
        for token in slots or ():
            if isinstance(token, CommentToken) and token.value.startswith("#"):
                token.column += len(new) - len(str(old))


@dataclass(slots=True)
class SearchRules:
    """kbld's searchRules: extra key names and key paths that hold image references."""

    names: set[str] = field(default_factory=lambda: {"image"})
    paths: list[list[Any]] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)

    def add_config(self, doc: Any, where: str) -> None:
        """Take the rules and overrides of one kbld Config document; InputError naming ``where``
        for a rule kbld could not read either."""
        for i, rule in enumerate(_listed(doc, "searchRules", where)):
            if not isinstance(rule, dict):
                raise InputError(f"{where}: kbld Config searchRules[{i}] is not a mapping")
            matcher = rule.get("keyMatcher")
            if not isinstance(matcher, dict | None):
                raise InputError(f"{where}: kbld Config searchRules[{i}].keyMatcher is not a mapping")
            matcher = matcher or {}
            if "name" in matcher:
                self.names.add(str(matcher["name"]))
            if "path" in matcher:
                if not isinstance(matcher["path"], list):
                    raise InputError(f"{where}: kbld Config searchRules[{i}].keyMatcher.path is not a list")
                self.paths.append(list(matcher["path"]))
        for override in overrides_of(doc, where):
            self.overrides[override.image] = override.new_image

    def matches(self, path: tuple[PathPart, ...]) -> bool:
        """True if the key at ``path`` holds an image reference."""
        if path and isinstance(path[-1], str) and path[-1] in self.names:
            return True
        return any(_path_matches(rule, path) for rule in self.paths)


def _path_matches(rule: list[Any], path: tuple[PathPart, ...]) -> bool:
    if len(rule) != len(path):
        return False
    for want, got in zip(rule, path, strict=True):
        if isinstance(want, dict):
            if not isinstance(got, int):
                return False
            if not want.get("allIndexes") and want.get("index") != got:
                return False
        elif want != got:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Override:
    """One kbld ``overrides`` entry: ``image`` as written in YAML, what replaces it, and its
    ``origins`` (kbld Origin: where the image came from, such as ``platformSelected``) as plain
    dicts, lists and strings."""

    image: str
    new_image: str
    preresolved: bool
    origins: tuple[dict[str, Any], ...] = ()


def overrides_of(doc: Any, where: str) -> list[Override]:
    """The overrides of a kbld Config document (a lock file is one): the one reader of them.
    Entries without a string ``image`` and a ``newImage`` are passed over, and so are an
    ``origins`` that is not a list and its items that are not mappings (kbld reads each item as
    one Origin); InputError naming ``where`` when ``overrides`` is not a list."""
    found = []
    for entry in _listed(doc, "overrides", where):
        if isinstance(entry, dict) and isinstance(entry.get("image"), str) and "newImage" in entry:
            origins = entry.get("origins")
            found.append(Override(entry["image"], str(entry["newImage"]), bool(entry.get("preresolved")),
                                  tuple(_plain(o) for o in origins if isinstance(o, dict))
                                  if isinstance(origins, list) else ()))
    return found


def _plain(value: Any) -> Any:
    """``value`` without ruamel's round-trip types, which carry the comments and quoting of the
    file it came from into any file it is written to."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def _listed(doc: Any, key: str, where: str) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        raise InputError(f"{where}: kbld Config {key} is not a list")
    return value


def is_kbld_config(doc: Any) -> bool:
    """True for a kbld Config document (search rules, overrides, lock files)."""
    return isinstance(doc, dict) and doc.get("apiVersion") == KBLD_API and doc.get("kind") == "Config"


class YamlFile:
    """One YAML stream, loaded for a round trip."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self._yaml = YAML()
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096
        try:
            indent, offset = _guess_indent(text)
            self.docs: list[Any] = list(self._yaml.load_all(text))
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise InputError(f"{name}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
        self._yaml.indent(mapping=indent, sequence=offset + 2, offset=offset)
        self._explicit_start = text.lstrip().startswith("---")

    def configs(self) -> list[Any]:
        """The kbld Config documents in this file."""
        return [d for d in self.docs if is_kbld_config(d)]

    def occurrences(self, rules: SearchRules) -> Iterator[Occurrence]:
        """Every image reference outside kbld Config documents, in document order."""
        for index, doc in enumerate(self.docs):
            if not is_kbld_config(doc):
                yield from _walk(index, doc, (), rules, set())

    def dump(self) -> str:
        """The stream without kbld Config documents. Documents are written one by one, joined by
        ``---``: an empty document stays empty (ruamel would write ``null`` and ``...``)."""
        kept = [d for d in self.docs if not is_kbld_config(d)]
        if not kept:
            return ""
        bodies = []
        for doc in kept:
            if doc is None:
                bodies.append("")
                continue
            out = StringIO()
            self._yaml.dump(doc, out)
            bodies.append(out.getvalue())
        return ("---\n" if self._explicit_start else "") + "---\n".join(bodies)


def _guess_indent(text: str) -> tuple[int, int]:
    """Mapping indent and sequence dash offset, from the first nested block of each kind."""
    mapping: int | None = None
    offset: int | None = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "---"))]
    for above, line in itertools.pairwise(lines):
        if not above.rstrip().endswith(":"):
            continue
        parent = len(above) - len(above.lstrip()) + (2 if above.lstrip().startswith("- ") else 0)
        step = len(line) - len(line.lstrip()) - parent
        if step < 0:
            continue
        if line.lstrip().startswith("- "):
            offset = step if offset is None else offset
        elif step > 0:
            mapping = step if mapping is None else mapping
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0


def _walk(index: int, node: Any, path: tuple[PathPart, ...], rules: SearchRules,
          seen: set[int]) -> Iterator[Occurrence]:
    if id(node) in seen:  # an anchor used twice: visit its node once
        return
    if isinstance(node, CommentedMap | dict):
        seen.add(id(node))
        own = getattr(node, "_ok", None)
        for key, value in list(node.items()):
            if own is not None and key not in own:
                continue  # merged from an anchor: found where the anchor is defined
            sub = (*path, key)
            if isinstance(value, str) and isinstance(key, str) and rules.matches(sub):
                yield Occurrence(index, sub, str(value), node, key)
            else:
                yield from _walk(index, value, sub, rules, seen)
    elif isinstance(node, CommentedSeq | list):
        seen.add(id(node))
        for i, item in enumerate(node):
            sub = (*path, i)
            if isinstance(item, str) and rules.matches(sub):
                yield Occurrence(index, sub, str(item), node, i)
            else:
                yield from _walk(index, item, sub, rules, seen)
