"""Which ``index.json`` entries of an OCI layout are referrers rather than images, and of what.

An entry is a referrer when (first rule that applies):

1. its annotations name its subject (what ``pkg`` writes: oci.referrers.referrer_entry);
2. its ref.name is a cosign legacy tag, ``sha256-<hex>.sig|.att|.sbom`` (a tag copied in by skopeo,
   regctl or crane);
3. its ref.name is a referrers tag, ``sha256-<hex>``, over an OCI index that is a referrers list
   (regclient's ``ocidir`` keeps referrers so): each manifest it lists and the layout holds is a
   referrer, and the list itself is neither;
4. it has no name at all and its manifest has a ``subject`` (oras-go's OCI store lists every
   manifest it holds, referrers included, without a name).

Rules 2 to 4 apply only when the layout holds the subject: a signature tag named on purpose
without its image stays an image (``pkg -i REPO:sha256-<hex>.sig``), so it is never dropped.
Every other entry is an image. Only OCI layouts hold referrers; Docker and Carvel archives do not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from relocator.errors import InputError
from relocator.oci import Descriptor, Digest, Manifest
from relocator.oci import mediatypes as mt
from relocator.oci.dockerarchive import CONTAINERD_NAME
from relocator.oci.layout import IndexEntry
from relocator.oci.referrers import (
    SUBJECT_ANNOTATION,
    TAG_ANNOTATION,
    Referrer,
    entry_referrer,
    fallback_subject,
    listed_referrers,
    referrers_list_problem,
)

__all__ = ["LayoutReferrers", "split_entries"]

# A manifest's bytes by digest, None when the layout cannot give them (missing, too big, corrupt).
Reader = Callable[[Digest], bytes | None]


@dataclass(frozen=True, slots=True)
class LayoutReferrers:
    """A layout's ``images`` (entries, in order), its referrers by subject, and each referrer
    entry with the subject it names (for ``verify``)."""

    images: tuple[IndexEntry, ...]
    by_subject: Mapping[Digest, tuple[Referrer, ...]] = field(default_factory=dict)
    entries: tuple[tuple[IndexEntry, Digest], ...] = ()


def split_entries(entries: tuple[IndexEntry, ...], read: Reader) -> LayoutReferrers:
    """Sort an OCI layout's entries into images and referrers (see the module docstring)."""
    images: list[IndexEntry] = []
    found: dict[Digest, dict[Digest, Referrer]] = {}
    linked: list[tuple[IndexEntry, Digest]] = []

    def add(subject: Digest, referrer: Referrer, entry: IndexEntry) -> None:
        found.setdefault(subject, {}).setdefault(referrer.digest, referrer)
        linked.append((entry, subject))

    for entry in entries:
        named = entry_referrer(entry)
        ours = SUBJECT_ANNOTATION in entry.descriptor.annotations
        if named is not None and (ours or read(named[0]) is not None):
            add(named[0], Referrer(_plain(entry.descriptor), named[1]), entry)
            continue
        listing = _referrers_list(entry, read)
        if listing is not None:
            subject, listed = listing
            for desc in listed:
                if read(desc.digest) is not None:
                    add(subject, Referrer(desc), IndexEntry(desc, None))
            continue
        own = _own_subject(entry, read)
        if own is not None:
            add(own, Referrer(_plain(entry.descriptor)), entry)
            continue
        images.append(entry)
    by_subject = {s: tuple(r.values()) for s, r in found.items()}
    return LayoutReferrers(tuple(images), MappingProxyType(by_subject), tuple(linked))


def _referrers_list(entry: IndexEntry, read: Reader) -> tuple[Digest, tuple[Descriptor, ...]] | None:
    tag = (entry.ref_name or "").rpartition(":")[2] if entry.ref_name and "@" not in entry.ref_name else ""
    subject = fallback_subject(tag) if tag else None
    if subject is None or entry.descriptor.media_type not in ("", mt.OCI_INDEX) or read(subject) is None:
        return None
    manifest = _manifest(entry.descriptor, read)
    if manifest is None or referrers_list_problem(manifest, subject) is not None:
        return None
    return subject, listed_referrers(manifest, subject)


def _own_subject(entry: IndexEntry, read: Reader) -> Digest | None:
    if entry.ref_name is not None or entry.descriptor.annotations.get(CONTAINERD_NAME):
        return None
    manifest = _manifest(entry.descriptor, read)
    subject = manifest.subject if manifest is not None else None
    if subject is None or subject.digest == entry.descriptor.digest or read(subject.digest) is None:
        return None
    return subject.digest


def _manifest(desc: Descriptor, read: Reader) -> Manifest | None:
    raw = read(desc.digest)
    if raw is None:
        return None
    try:
        return Manifest.parse(raw, desc.media_type or None)
    except InputError:
        return None  # stays an image: copying it reports the problem as it always did


def _plain(desc: Descriptor) -> Descriptor:
    """The entry's descriptor without the annotations that placed it in the layout."""
    kept = {k: v for k, v in desc.annotations.items() if k not in (SUBJECT_ANNOTATION, TAG_ANNOTATION)}
    return Descriptor(desc.media_type, desc.digest, desc.size, annotations=MappingProxyType(kept),
                      artifact_type=desc.artifact_type)
