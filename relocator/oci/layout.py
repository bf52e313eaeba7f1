"""OCI image layout names: ``oci-layout``, blob paths, ``index.json``, member-name safety."""

from __future__ import annotations

import json
from dataclasses import dataclass

from relocator.errors import InputError, UnsafeTarMember
from relocator.oci.digest import Digest
from relocator.oci.manifest import Descriptor

__all__ = ["INDEX_JSON", "LAYOUT_FILE", "OCI_LAYOUT", "REF_NAME", "IndexEntry", "build_index",
           "member_digest", "parse_index"]

LAYOUT_FILE = "oci-layout"
INDEX_JSON = "index.json"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One ``index.json`` descriptor and the reference name it carries (if any)."""

    descriptor: Descriptor
    ref_name: str | None


def member_digest(name: str) -> Digest | None:
    """The digest a ``blobs/ALG/HEX`` member holds; None for oci-layout and index.json.

    Anything else (absolute paths, ``..``, other names) is refused: a layout has no other members.
    """
    clean = name[2:] if name.startswith("./") else name
    if clean in (LAYOUT_FILE, INDEX_JSON):
        return None
    parts = clean.split("/")
    if clean.startswith("/") or ".." in parts:
        raise UnsafeTarMember(f"member {name!r} points outside the layout")
    if len(parts) != 3 or parts[0] != "blobs":
        raise UnsafeTarMember(f"member {name!r} is not part of an OCI image layout")
    try:
        return Digest(parts[1], parts[2])
    except InputError:
        raise UnsafeTarMember(f"member {name!r} is not named by a valid digest") from None


def build_index(entries: list[IndexEntry]) -> bytes:
    """``index.json``: one descriptor per entry, annotated with its reference name."""
    manifests = []
    for entry in entries:
        desc = entry.descriptor.to_json()
        if entry.ref_name is not None:
            desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: entry.ref_name}
        manifests.append(desc)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": manifests}
    return json.dumps(doc, indent=2).encode() + b"\n"


def parse_index(raw: bytes, where: str) -> list[IndexEntry]:
    """The entries of an ``index.json``."""
    try:
        doc = json.loads(raw)
        manifests = doc["manifests"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{where}: index.json is not an OCI image index") from None
    entries = []
    for i, obj in enumerate(manifests):
        desc = Descriptor.from_json(obj, f"{where}: index.json manifests[{i}]")
        entries.append(IndexEntry(desc, desc.annotations.get(REF_NAME)))
    return entries
