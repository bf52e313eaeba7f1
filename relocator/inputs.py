"""Image references from YAML ``image:`` keys, kbld lock files, text lists and ``-i``."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from relocator.errors import BadReference, InputError
from relocator.oci import Reference

__all__ = ["ImageInput", "collect_inputs", "references_in_text", "shard"]

_LOCK_API = "kbld.k14s.io/v1alpha1"


@dataclass(frozen=True, slots=True)
class ImageInput:
    """One reference as the user wrote it, and where it came from."""

    text: str
    ref: Reference
    origin: str


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                yield value
            else:
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _from_yaml_docs(docs: Iterable[Any]) -> Iterator[str]:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("apiVersion") == _LOCK_API and doc.get("kind") == "Config":
            for override in doc.get("overrides") or []:
                if isinstance(override, dict) and isinstance(override.get("image"), str):
                    yield override["newImage"] if override.get("preresolved") else override["image"]
            continue
        yield from _walk(doc)


def references_in_text(text: str, origin: str) -> list[str]:
    """Reference strings in a file's text: YAML with ``image:`` keys, a lock file, or one per line."""
    try:
        docs = list(YAML(typ="safe", pure=True).load_all(StringIO(text)))
    except YAMLError:
        docs = []
    if any(isinstance(d, dict | list) for d in docs):
        return list(_from_yaml_docs(docs))
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def collect_inputs(files: Iterable[str], refs: Iterable[str]) -> list[ImageInput]:
    """Every distinct reference from ``-f`` files (``-`` is stdin) and ``-i`` flags, in order."""
    found: list[ImageInput] = []
    seen: set[str] = set()

    def add(text: str, origin: str) -> None:
        if text in seen:
            return
        try:
            ref = Reference.parse(text)
        except BadReference as exc:
            raise InputError(f"{origin}: {exc}") from None
        seen.add(text)
        found.append(ImageInput(text, ref, origin))

    for name in files:
        if name == "-":
            content = sys.stdin.read()
        else:
            try:
                content = Path(name).read_text()
            except OSError as exc:
                raise InputError(f"{name}: cannot read ({exc.strerror})") from None
        for text in references_in_text(content, name):
            add(text, name)
    for text in refs:
        add(text, "-i")
    return found


def shard(inputs: list[ImageInput], index: int, count: int) -> list[ImageInput]:
    """The inputs of shard ``index`` of ``count``: chosen by a hash of each reference's text,
    so a reference stays in its shard however the other inputs change."""
    if not 0 <= index < count:
        raise InputError(f"--shard {index}/{count}: want I/N with 0 <= I < N")
    return [i for i in inputs
            if int.from_bytes(hashlib.sha256(i.text.encode()).digest()[:8], "big") % count == index]
