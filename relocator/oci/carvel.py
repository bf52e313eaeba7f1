"""Carvel tarballs (``imgpkg copy --to-tar``, ``kbld pkg``): ``manifest.json`` read into entries,
manifests and configs carried inline, and the layers' member names. No I/O.

Format, from carvel-dev/imgpkg pkg/imgpkg/imagedesc (types.go, image_ref_descriptors.go) and
pkg/imgpkg/imagetar/tar_writer.go; kbld's pkg/kbld/imagedesc is the same without Tag, OrigRef and
Labels. ``manifest.json`` is Go's ``json.Marshal`` of a list of ImageOrImageIndexDescriptor::

    [{"ImageIndex": null | {"Refs": [...], "Images": [IMAGE, ...], "Indexes": [INDEX, ...],
                            "MediaType": ..., "Digest": ..., "Raw": "<the index's bytes>", "Tag": ...},
      "Image": null | {"Refs": [...], "Tag": ...,
                       "Layers": [{"MediaType": ..., "Digest": ..., "DiffID": ..., "Size": N}, ...],
                       "Config": {"Digest": ..., "Raw": "<the config's bytes>"},
                       "Manifest": {"MediaType": ..., "Digest": ..., "Raw": "<the manifest's bytes>"}}}]

Manifest and config bytes are carried exactly (as JSON strings), so digests are kept. Each layer is
one member named ``<alg>-<hex>.tar.gz`` whatever its media type; non-distributable layers may be
left out. An index's Refs name it by repository and digest; an image's by its full reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from relocator.errors import InputError
from relocator.oci.digest import Digest
from relocator.oci.layout import IndexEntry
from relocator.oci.manifest import Descriptor

__all__ = ["CarvelArchive", "is_carvel_manifest", "layer_member_name", "parse_carvel_manifest"]

_KINDS = ("Image", "ImageIndex")


@dataclass(frozen=True, slots=True)
class CarvelArchive:
    """What ``manifest.json`` describes: one entry per top-level Ref, the manifests and configs
    carried inline (by their stated digest), the manifests' media types, and every layer's size."""

    entries: tuple[IndexEntry, ...]
    inline: Mapping[Digest, bytes]
    media_types: Mapping[Digest, str]
    layers: Mapping[Digest, int]


@dataclass(slots=True)
class _Walk:
    where: str
    inline: dict[Digest, bytes] = field(default_factory=dict)
    media_types: dict[Digest, str] = field(default_factory=dict)
    layers: dict[Digest, int] = field(default_factory=dict)


def is_carvel_manifest(doc: Any) -> bool:
    """True for a decoded ``manifest.json`` whose items are ``{"Image": ..., "ImageIndex": ...}``."""
    return (isinstance(doc, list) and bool(doc)
            and all(isinstance(item, dict) and any(k in item for k in _KINDS) for item in doc))


def layer_member_name(digest: Digest) -> str:
    """The member a Carvel tarball keeps a layer in: ``sha256-<hex>.tar.gz``."""
    return f"{digest.algorithm}-{digest.hex}.tar.gz"


def parse_carvel_manifest(doc: Any, where: str) -> CarvelArchive:
    """Entries, inline bytes and layers of a decoded Carvel ``manifest.json``.

    Raises InputError naming ``where`` and the item for anything the format does not allow.
    """
    if not is_carvel_manifest(doc):
        raise InputError(f"{where}: manifest.json is not a Carvel image list")
    walk = _Walk(where)
    entries: list[IndexEntry] = []
    for i, item in enumerate(doc):
        what = f"{where}: manifest.json[{i}]"
        index, image = item.get("ImageIndex"), item.get("Image")
        if (index is None) == (image is None):
            raise InputError(f"{what} needs exactly one of Image and ImageIndex")
        desc = _index(walk, index, what) if index is not None else _image(walk, image, what)
        refs = _field(index if index is not None else image, "Refs", list, what, [])
        names: list[str | None] = [r for r in refs if isinstance(r, str) and r] or [None]
        entries.extend(IndexEntry(desc, name) for name in names)
    return CarvelArchive(tuple(entries), MappingProxyType(walk.inline),
                         MappingProxyType(walk.media_types), MappingProxyType(walk.layers))


def _index(walk: _Walk, obj: Any, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise InputError(f"{what}: ImageIndex is not an object")
    desc = _inline(walk, obj, what)
    for j, child in enumerate(_field(obj, "Indexes", list, what, [])):
        _index(walk, child, f"{what} Indexes[{j}]")
    for j, child in enumerate(_field(obj, "Images", list, what, [])):
        _image(walk, child, f"{what} Images[{j}]")
    return desc


def _image(walk: _Walk, obj: Any, what: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise InputError(f"{what}: Image is not an object")
    config = _field(obj, "Config", dict, what)
    _inline(walk, {"MediaType": "", **config}, f"{what} Config")
    for j, layer in enumerate(_field(obj, "Layers", list, what, [])):
        where = f"{what} Layers[{j}]"
        if not isinstance(layer, dict):
            raise InputError(f"{where} is not an object")
        size = layer.get("Size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"{where}: invalid Size {size!r}")
        walk.layers[_digest(layer, where)] = size
    return _inline(walk, _field(obj, "Manifest", dict, what), f"{what} Manifest")


def _inline(walk: _Walk, obj: dict[str, Any], what: str) -> Descriptor:
    digest = _digest(obj, what)
    raw = _field(obj, "Raw", str, what).encode()
    media_type = _field(obj, "MediaType", str, what)
    walk.inline[digest] = raw
    if media_type:
        walk.media_types[digest] = media_type
    return Descriptor(media_type, digest, len(raw))


def _digest(obj: dict[str, Any], what: str) -> Digest:
    text = obj.get("Digest")
    if not isinstance(text, str):
        raise InputError(f"{what}: Digest is missing")
    try:
        return Digest.parse(text)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None


def _field(obj: dict[str, Any], key: str, kind: type, what: str, default: Any = ...) -> Any:
    value = obj.get(key)
    if value is None and default is not ...:
        return default
    if not isinstance(value, kind):
        raise InputError(f"{what}: {key} is missing or not a {kind.__name__}")
    return value
