"""Image references from YAML ``image:`` keys, kbld lock files, text lists and ``-i``."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from pathlib import Path

from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.frontends.yamldocs import SearchRules, YamlFile, is_kbld_config, overrides_of
from relocator.oci import Reference

__all__ = ["ImageInput", "collect_inputs", "references_in_text", "shard"]

def references_in_text(text: str, origin: str) -> list[str]:
    """Reference strings in a file's text: YAML with ``image:`` keys, a lock file, or one per line."""
    try:
        stream: YamlFile | None = YamlFile(origin, text)
    except InputError:
        stream = None
    if stream is None or not any(isinstance(d, dict | list) for d in stream.docs):
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        return [line for line in lines if line]
    by_doc: dict[int, list[str]] = {}
    for occ in stream.occurrences(SearchRules()):
        by_doc.setdefault(occ.document, []).append(occ.value)
    found: list[str] = []
    for index, doc in enumerate(stream.docs):
        if not is_kbld_config(doc):
            found += by_doc.get(index, [])
            continue
        found += [o.new_image if o.preresolved else o.image for o in overrides_of(doc)]
    return found


def collect_inputs(files: Iterable[str], refs: Iterable[str]) -> list[ImageInput]:
    """Every distinct reference from ``-f`` files (``-`` is stdin) and ``-i`` flags, in order.

    A reference with neither tag nor digest is read as ``:latest`` once, here, so every command
    tags its destination ``latest``; the input's ``text`` (its label) stays as written.
    """
    found: list[ImageInput] = []
    seen: set[str] = set()

    def add(text: str, origin: str) -> None:
        if text in seen:
            return
        try:
            ref = Reference.parse(text)
        except BadReference as exc:
            raise InputError(f"{origin}: {exc}") from None
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag("latest")  # what every registry and tool reads it as
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
