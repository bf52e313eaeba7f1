"""split_entries without a file: which index.json entries are referrers, and of what."""

from __future__ import annotations

import json

from relocator.oci import Descriptor, Digest
from relocator.oci.layout import IndexEntry
from relocator.oci.referrers import SUBJECT_ANNOTATION, Referrer, referrer_entry
from relocator.stores.layout_referrers import split_entries
from tests.images import OCI_INDEX, OCI_MANIFEST
from tests.referrers import attached, descriptor_of, legacy_tag


def _entry(raw: bytes, media_type: str, name: str | None = None) -> IndexEntry:
    return IndexEntry(Descriptor(media_type, Digest.of(raw), len(raw)), name)


def test_signature_tags_without_their_image_stay_images() -> None:
    fix = attached(130)
    blobs = {Digest.of(i.raw): i.raw for i in (fix.index, fix.sig, fix.sboms[0])}
    sig = _entry(fix.sig.raw, OCI_MANIFEST, f"registry.example/app:{legacy_tag(fix.index)}")
    sbom = _entry(fix.sboms[0].raw, OCI_MANIFEST)  # unnamed, its subject (a child) not in the layout

    without_index = {d: b for d, b in blobs.items() if d != Digest.parse(fix.index.digest)}
    alone = split_entries((sig, sbom), without_index.get)
    assert alone.images == (sig, sbom) and alone.by_subject == {}

    image = _entry(fix.index.raw, OCI_INDEX, "registry.example/app:v1")
    both = split_entries((image, sig), blobs.get)
    assert both.images == (image,)
    assert [(r.digest, r.tag) for r in both.by_subject[Digest.parse(fix.index.digest)]] == [
        (Digest.parse(fix.sig.digest), legacy_tag(fix.index))]


def test_our_annotation_names_the_subject_and_is_not_passed_on() -> None:
    fix = attached(131)
    child = Digest.parse(fix.index.children[0].digest)
    desc = Descriptor.from_json(descriptor_of(fix.sboms[0]), "sbom")
    entry = IndexEntry(referrer_entry(child, Referrer(desc)), None)
    found = split_entries((entry,), {}.get)  # trusted without the subject: pkg wrote it
    assert found.images == () and found.entries == ((entry, child),)
    (referrer,) = found.by_subject[child]
    assert SUBJECT_ANNOTATION not in referrer.descriptor.annotations
    assert referrer.descriptor.artifact_type == "application/spdx+json"


def test_a_referrers_tag_over_something_else_is_an_image() -> None:
    fix = attached(132)
    odd = _entry(fix.sboms[0].raw, OCI_MANIFEST, fix.index.digest.replace(":", "-"))
    found = split_entries((odd,), {Digest.of(i.raw): i.raw for i in (fix.index, fix.sboms[0])}.get)
    assert found.images == (odd,)
    listing = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()
    empty = _entry(listing, OCI_INDEX, fix.index.digest.replace(":", "-"))
    found = split_entries((empty,), {Digest.of(listing): listing, Digest.parse(fix.index.digest): b"x"}.get)
    assert found.images == () and found.by_subject == {}  # an empty list: neither image nor referrer
