"""Descriptors and manifests: raw bytes plus a parsed view of their children."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from relocator.errors import InputError, UnsupportedMediaType
from relocator.oci import mediatypes as mt
from relocator.oci.digest import Digest
from relocator.oci.platform import Platform

__all__ = ["Descriptor", "Manifest", "Platform"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: media type, digest and size, plus optional extras."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False)
    # image-spec 1.1 descriptor.md: the type of an artifact this descriptor points to; a referrers
    # list gives one per entry (distribution-spec "Listing Referrers").
    artifact_type: str | None = field(default=None, compare=False)

    @classmethod
    def for_bytes(cls, media_type: str, raw: bytes) -> Descriptor:
        """The descriptor of bytes in memory."""
        return cls(media_type, Digest.of(raw), len(raw))

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Descriptor:
        """Parse one descriptor object; ``where`` names it in errors."""
        if not isinstance(obj, dict):
            raise InputError(f"{where}: descriptor is not an object")
        for key in ("digest", "size"):
            if key not in obj:
                raise InputError(f"{where}: descriptor lacks {key!r}")
        if not isinstance(obj["digest"], str):
            raise InputError(f"{where}: descriptor digest is not a string")
        try:
            digest = Digest.parse(obj["digest"])
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        size, media_type = obj["size"], obj.get("mediaType", "")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InputError(f"{where}: descriptor {digest} has invalid size {size!r}")
        if not isinstance(media_type, str):
            raise InputError(f"{where}: descriptor {digest} has a mediaType that is not a string")
        urls = obj.get("urls") or []
        annotations = obj.get("annotations") or {}
        plat = obj.get("platform")
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InputError(f"{where}: descriptor {digest} has urls that are not a list of strings")
        if not isinstance(annotations, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()):
            raise InputError(f"{where}: descriptor {digest} has annotations that are not strings")
        platform = Platform.from_json(plat) if isinstance(plat, dict) else None
        artifact_type = obj.get("artifactType")
        return cls(media_type=media_type, digest=digest, size=size, urls=tuple(urls), platform=platform,
                   annotations=MappingProxyType(dict(annotations)),
                   artifact_type=artifact_type if isinstance(artifact_type, str) and artifact_type else None)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as a JSON object (for index.json)."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest or index exactly as stored: its bytes are its identity."""

    raw: bytes
    media_type: str
    children: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    # image-spec 1.1: ``artifactType`` and ``annotations`` of the manifest or index itself, which a
    # referrers list copies into the referrer's descriptor (oci.referrers.referrer_descriptor).
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, compare=False)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None, where: str = "manifest") -> Manifest:
        """Parse ``raw``; the header's media type wins over the body's when both are given."""
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{where}: not valid JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise InputError(f"{where}: manifest is not a JSON object")
        body_type = doc.get("mediaType")
        header_type = (media_type or "").split(";")[0].strip()
        if doc.get("schemaVersion") == 1 or mt.is_schema1(header_type):
            raise UnsupportedMediaType(
                f"{where}: Docker schema 1 manifests are not supported; "
                "push the image again with a current client"
            )
        if header_type in ("", "application/json", "application/octet-stream"):
            header_type = ""
        if body_type and header_type and body_type != header_type:
            raise InputError(
                f"{where}: body says mediaType {body_type!r} but it was served as {header_type!r}"
            )
        kind = header_type or body_type or _guess(doc)
        if not mt.is_manifest(kind):
            raise UnsupportedMediaType(f"{where}: unsupported manifest media type {kind!r}")
        if mt.is_index(kind):
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise InputError(f"{where}: index has no 'manifests' list")
            children = tuple(
                Descriptor.from_json(e, f"{where} manifests[{i}]") for i, e in enumerate(entries)
            )
        else:
            layers = doc.get("layers")
            if "config" not in doc or not isinstance(layers, list):
                raise InputError(f"{where}: image manifest needs 'config' and 'layers'")
            config = Descriptor.from_json(doc["config"], f"{where} config")
            children = (config,) + tuple(
                Descriptor.from_json(e, f"{where} layers[{i}]") for i, e in enumerate(layers)
            )
        subject = None
        if "subject" in doc:
            subject = Descriptor.from_json(doc["subject"], f"{where} subject")
        artifact_type = doc.get("artifactType")
        return cls(raw=raw, media_type=kind, children=children, subject=subject,
                   artifact_type=artifact_type if isinstance(artifact_type, str) and artifact_type else None,
                   annotations=_annotations(doc))

    @property
    def descriptor(self) -> Descriptor:
        """The descriptor of these exact bytes."""
        return Descriptor.for_bytes(self.media_type, self.raw)

    @property
    def digest(self) -> Digest:
        """sha256 of the raw bytes."""
        return Digest.of(self.raw)

    @property
    def is_index(self) -> bool:
        """True for an image index or manifest list."""
        return mt.is_index(self.media_type)

    @property
    def config(self) -> Descriptor | None:
        """The config descriptor of an image manifest; None for an index."""
        return None if self.is_index else self.children[0]

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        """The layer descriptors of an image manifest; empty for an index."""
        return () if self.is_index else self.children[1:]


def _annotations(obj: dict[str, Any]) -> Mapping[str, str]:
    """The ``annotations`` of a manifest or descriptor: string to string (image-spec
    annotations.md). A value of another type is left out rather than refusing the manifest: its
    bytes travel unchanged either way, and only the string values mean anything to a reader."""
    found = obj.get("annotations")
    if not isinstance(found, dict) or not found:
        return _EMPTY
    return MappingProxyType({k: v for k, v in found.items() if isinstance(k, str) and isinstance(v, str)})


def _guess(doc: dict[str, Any]) -> str:
    # OCI manifests may omit mediaType; their shape tells them apart.
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "layers" in doc:
        return mt.OCI_MANIFEST
    return ""
