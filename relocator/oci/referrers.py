"""Referrers as values, with no I/O: the tags that name them, the documents that list them, and how
a layout's ``index.json`` records them.

Sources:

- image-spec 1.1 ``manifest.md`` and ``image-index.md``: ``subject`` (the manifest a referrer
  refers to) and ``artifactType``.
- distribution-spec 1.1 "Listing Referrers": a referrers list is an OCI image index; each entry
  carries ``artifactType`` (the manifest's, else its config's media type; none for an index
  without one) and every annotation of the manifest.
- distribution-spec 1.1 "Referrers Tag Schema": where the API is not served, the list lives under
  the tag ``<alg>-<hex>`` (algorithm cut to 32 characters, encoded part to 64, characters a tag
  cannot hold replaced by ``-``); "Pushing Manifests with Subject": a pusher reads it, adds its
  entry unless listed, and writes it back.
- cosign's legacy tags ``<alg>-<hex>.sig``, ``.att`` and ``.sbom`` (sigstore/cosign
  ``pkg/oci/remote``): a manifest named after its subject's digest, with no ``subject`` field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from relocator.errors import InputError
from relocator.oci import mediatypes as mt
from relocator.oci.digest import Digest
from relocator.oci.layout import REF_NAME, IndexEntry
from relocator.oci.manifest import Descriptor, Manifest

__all__ = ["LEGACY_SUFFIXES", "SUBJECT_ANNOTATION", "TAG_ANNOTATION", "Referrer", "artifact_type",
           "entry_referrer", "fallback_subject", "fallback_tag", "is_referrer_tag", "legacy_subject",
           "legacy_tags",
           "listed_referrers", "merge_referrers", "referrer_descriptor", "referrer_entry",
           "referrers_list_problem"]

LEGACY_SUFFIXES = ("sig", "att", "sbom")
# A layout's index.json lists each referrer without a ref.name (the way oras-go's OCI store lists
# manifests it holds untagged) and with these two annotations of ours: the digest of its subject,
# and for a cosign legacy referrer the tag that named it. Readers that do not know them see an
# unnamed manifest; the subject is in a linked referrer's own bytes anyway.
SUBJECT_ANNOTATION = "dev.relocator.referrer.subject"
TAG_ANNOTATION = "dev.relocator.referrer.tag"

_NOT_IN_TAG = re.compile(r"[^\w.-]")
_LEGACY = re.compile(r"(sha256|sha512)-([0-9a-f]+)\.(sig|att|sbom)")
_FALLBACK = re.compile(r"(sha256|sha512)-([0-9a-f]+)")


@dataclass(frozen=True, slots=True)
class Referrer:
    """A manifest that refers to a subject. ``descriptor`` is as a referrers list gives it (with
    ``artifact_type`` and the manifest's annotations); ``tag`` is the cosign legacy tag naming it,
    None for one linked by its ``subject`` field; ``manifest`` its bytes when the lookup read them."""

    descriptor: Descriptor
    tag: str | None = None
    manifest: Manifest | None = field(default=None, compare=False)

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


def fallback_tag(subject: Digest) -> str:
    """The referrers tag of ``subject``: ``sha256-<hex>`` (distribution-spec "Referrers Tag
    Schema": algorithm cut to 32 characters, encoded part to 64, others replaced by ``-``)."""
    return _NOT_IN_TAG.sub("-", f"{subject.algorithm[:32]}-{subject.hex[:64]}")


def legacy_tags(subject: Digest) -> tuple[str, ...]:
    """cosign's tags for a signature, an attestation and an SBOM of ``subject``, in that order."""
    return tuple(f"{subject.algorithm}-{subject.hex}.{suffix}" for suffix in LEGACY_SUFFIXES)


def legacy_subject(tag: str) -> Digest | None:
    """The subject a cosign legacy tag names (``sha256-<hex>.sig`` gives ``sha256:<hex>``), else None."""
    found = _LEGACY.fullmatch(tag)
    return _digest(found.group(1), found.group(2)) if found else None


def fallback_subject(tag: str) -> Digest | None:
    """The subject a referrers tag names, else None (also for a sha512 tag, cut to 64 characters)."""
    found = _FALLBACK.fullmatch(tag)
    return _digest(found.group(1), found.group(2)) if found else None


def is_referrer_tag(tag: str) -> bool:
    """True for a tag that only keeps referrers: a referrers tag or a cosign legacy tag."""
    return bool(_FALLBACK.fullmatch(tag) or _LEGACY.fullmatch(tag))


def _digest(algorithm: str, hexpart: str) -> Digest | None:
    try:
        return Digest(algorithm, hexpart)
    except InputError:
        return None


def artifact_type(manifest: Manifest) -> str | None:
    """What kind of artifact a manifest is: its ``artifactType``, else an image manifest's config
    media type, else None (an index without one). distribution-spec "Listing Referrers"."""
    if manifest.artifact_type:
        return manifest.artifact_type
    config = manifest.config
    return config.media_type if config is not None and config.media_type else None


def referrer_descriptor(manifest: Manifest) -> Descriptor:
    """The entry a referrers list has for ``manifest``: media type, digest, size, artifactType and
    every annotation of the manifest (distribution-spec "Pushing Manifests with Subject")."""
    return Descriptor(manifest.media_type, manifest.digest, len(manifest.raw),
                      annotations=manifest.annotations, artifact_type=artifact_type(manifest))


def referrers_list_problem(manifest: Manifest, subject: Digest) -> str | None:
    """Why what a referrers tag holds is not a list of ``subject``'s referrers, or None if it is.
    The spec wants an OCI image index; some registries answer the tag with the subject itself."""
    if manifest.digest == subject:
        return "it is the subject itself"
    if manifest.media_type != mt.OCI_INDEX:
        return f"it is a {manifest.media_type}, not an OCI image index"
    if manifest.subject is not None:
        return "it is an index with a subject of its own, a referrer rather than a list"
    return None


def listed_referrers(manifest: Manifest, subject: Digest) -> tuple[Descriptor, ...]:
    """The entries of a referrers list, without any naming the subject itself (a referrer of
    itself would be a loop)."""
    return tuple(d for d in manifest.children if d.digest != subject)


def merge_referrers(current: Manifest | None, adds: Sequence[Descriptor]) -> bytes | None:
    """A referrers list holding ``current``'s entries exactly as they are (fields this code does
    not know included) and each of ``adds`` not listed yet, appended in order; None when every one
    is listed already, so nothing needs writing. ``current`` None starts an empty OCI index.

    Raises InputError when ``current`` is not a JSON object with a ``manifests`` list.
    """
    if current is None:
        doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    else:
        doc = json.loads(current.raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
            raise InputError("referrers list is not an image index")
    listed = {d.digest for d in (current.children if current is not None else ())}
    added = False
    for desc in adds:
        if desc.digest not in listed:
            listed.add(desc.digest)
            doc["manifests"].append(desc.to_json())
            added = True
    return json.dumps(doc, indent=2).encode() if added else None


def referrer_entry(subject: Digest, referrer: Referrer) -> Descriptor:
    """The ``index.json`` descriptor of a referrer in a layout: its referrers-list descriptor,
    annotated with its subject (and its legacy tag), never with a ref.name."""
    annotations = {k: v for k, v in referrer.descriptor.annotations.items() if k != REF_NAME}
    annotations[SUBJECT_ANNOTATION] = str(subject)
    if referrer.tag is not None:
        annotations[TAG_ANNOTATION] = referrer.tag
    d = referrer.descriptor
    return Descriptor(d.media_type, d.digest, d.size, annotations=MappingProxyType(annotations),
                      artifact_type=d.artifact_type)


def entry_referrer(entry: IndexEntry) -> tuple[Digest, str | None] | None:
    """The subject (and legacy tag) an ``index.json`` entry names it a referrer of, by its
    annotations or, written by another tool, by a ref.name that is a cosign legacy tag; None for
    an image (an unnamed entry whose manifest has a subject is one too: see LayoutSource)."""
    annotations = entry.descriptor.annotations
    subject_text = annotations.get(SUBJECT_ANNOTATION)
    if subject_text is not None:
        try:
            return Digest.parse(subject_text), annotations.get(TAG_ANNOTATION)
        except InputError:
            return None
    tag = (entry.ref_name or "").rpartition(":")[2]
    subject = legacy_subject(tag) if tag else None
    return (subject, tag) if subject is not None else None
