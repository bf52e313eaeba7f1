"""Image references from YAML ``image:`` keys, kbld lock files, text lists and ``-i``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from relocator.engine.sharding import bucket_of
from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.frontends.yamldocs import SearchRules, YamlFile, is_kbld_config, overrides_of
from relocator.oci import Reference
from relocator.oci.reference import without_transport

__all__ = ["ImageInput", "Inputs", "Labelled", "collect_inputs", "labelled_references", "read_files",
           "read_inputs", "references_in_text", "shard"]

YAML_SUFFIXES = (".yml", ".yaml")


def read_files(names: Iterable[str]) -> list[tuple[str, str]]:
    """``(name, text)`` for each ``-f`` argument, in order: a file; every ``.yml``/``.yaml`` file
    under a directory, recursively, sorted by path; ``-`` for stdin (named ``-``).

    Raises InputError naming the file that cannot be read or is not UTF-8 text.
    """
    found: list[tuple[str, str]] = []
    for name in names:
        if name == "-":
            found.append(("-", _decoded("-", sys.stdin.read)))
            continue
        path = Path(name)
        paths = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()) \
            if path.is_dir() else [path]
        found += [(str(p), _decoded(str(p), p.read_text)) for p in paths]
    return found


def _decoded(name: str, read: Callable[[], str]) -> str:
    try:
        return read()
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (an undecodable byte at offset {exc.start}): "
                         "YAML, a lock file or a list of references was expected") from None


def references_in_text(text: str, origin: str) -> list[str]:
    """Reference strings in a file's text: YAML with ``image:`` keys, a lock file, or one per line.

    Raises InputError for text that is neither valid YAML nor a list of references: the YAML
    error, with its line, naming ``origin``.
    """
    return [found.reference for found in labelled_references(text, origin)]


class Labelled(NamedTuple):
    """One reference of a file: its ``label`` and the ``reference`` to read; for a kbld lock's
    preresolved override, also the override's ``origins`` (yamldocs.Override)."""

    label: str
    reference: str
    origins: tuple[dict[str, Any], ...] = ()


def labelled_references(text: str, origin: str) -> list[Labelled]:
    """Each reference of ``references_in_text``, labelled. The label is the reference itself,
    except for a kbld lock's preresolved override: there it is the override's ``image`` (the name
    the user's YAML says) and the reference its ``newImage``, so a lock written after relocating
    is keyed on the same ``image:`` values and still applies to that YAML (kbld's relocate does
    the same), and carries the override's ``origins`` on."""
    try:
        stream = YamlFile(origin, text)
    except InputError:
        lines = _lines(text)
        if all(_is_reference(line) for line in lines):
            return [Labelled(line, line) for line in lines]  # a plain list need not be YAML
        raise
    if not any(isinstance(d, dict | list) for d in stream.docs):
        return [Labelled(line, line) for line in _lines(text)]
    by_doc: dict[int, list[str]] = {}
    for occ in stream.occurrences(SearchRules()):
        by_doc.setdefault(occ.document, []).append(occ.value)
    found: list[Labelled] = []
    for index, doc in enumerate(stream.docs):
        if not is_kbld_config(doc):
            found += [Labelled(value, value) for value in by_doc.get(index, [])]
            continue
        overrides = overrides_of(doc, f"{origin}: document {index}")
        found += [Labelled(o.image, o.new_image, o.origins) if o.preresolved else Labelled(o.image, o.image)
                  for o in overrides]
    return found


def _lines(text: str) -> list[str]:
    """The non-empty lines of a reference list, ``#`` comments dropped."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def _is_reference(text: str) -> bool:
    try:
        Reference.parse(text)
    except BadReference:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Inputs:
    """What ``-f`` and ``-i`` ask for: the ``images`` in order and, by label, the ``origins`` of
    each image a kbld lock named (``Labelled``), for the lock a run writes to carry on."""

    images: list[ImageInput]
    origins: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)


def collect_inputs(files: Iterable[str], refs: Iterable[str]) -> list[ImageInput]:
    """``read_inputs(files, refs).images``."""
    return read_inputs(files, refs).images


def read_inputs(files: Iterable[str], refs: Iterable[str]) -> Inputs:
    """Every distinct reference from ``-f`` files (``-`` is stdin, a directory its YAML files, as
    ``read_files`` reads them) and ``-i`` flags (``REF`` or ``docker://REF``), in order.

    A reference with neither tag nor digest is read as ``:latest`` once, here, so every command
    tags its destination ``latest``; the input's ``text`` (its label) stays as written, without
    a ``docker://``. Raises InputError naming the file (or ``-i``) of a bad reference, and the
    files given when none of them holds a reference.
    """
    found = Inputs([])
    seen: set[str] = set()

    def add(text: str, origin: str, label: str | None = None) -> bool:
        """True when this label is new: the first of a label is the one kept."""
        label = text if label is None else label
        if label in seen:
            return False
        try:
            ref = Reference.parse(text)
        except BadReference as exc:
            raise InputError(f"{origin}: {exc}") from None
        if ref.tag is None and ref.digest is None:
            ref = ref.with_tag("latest")  # what every registry and tool reads it as
        seen.add(label)
        found.images.append(ImageInput(label, ref, origin))
        return True

    names = list(files)
    for name, content in read_files(names):
        for labelled in labelled_references(content, name):
            if add(labelled.reference, name, labelled.label) and labelled.origins:
                found.origins[labelled.label] = labelled.origins
    if names and not found.images:
        raise InputError(f"{', '.join(names)}: no image references (no image: keys, kbld lock "
                         "overrides or lines with one reference each)")
    for text in refs:
        try:
            bare = without_transport(text)
        except BadReference as exc:
            raise InputError(f"-i: {exc}") from None
        add(bare, "-i")
    return found


def shard(inputs: list[ImageInput], index: int, count: int) -> list[ImageInput]:
    """The inputs of shard ``index`` of ``count``: chosen by a hash of each reference's text,
    so a reference stays in its shard however the other inputs change."""
    if not 0 <= index < count:
        raise InputError(f"--shard {index}/{count}: want I/N with 0 <= I < N")
    return [i for i in inputs if bucket_of(i.text, count) == index]
