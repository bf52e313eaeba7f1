"""Referrer naming rules and referrers lists: tags, artifact types, merges that keep every entry."""

from __future__ import annotations

import json

import pytest

from relocator.errors import InputError
from relocator.oci import Descriptor, Digest, Manifest
from relocator.oci import mediatypes as mt
from relocator.oci.layout import REF_NAME, IndexEntry
from relocator.oci.referrers import (
    SUBJECT_ANNOTATION,
    TAG_ANNOTATION,
    Referrer,
    artifact_type,
    entry_referrer,
    fallback_subject,
    fallback_tag,
    legacy_subject,
    legacy_tags,
    merge_referrers,
    referrer_descriptor,
    referrer_entry,
    referrers_list_problem,
)

SUBJECT = Digest.of(b"subject")
EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": str(Digest.of(b"{}")), "size": 2}


def _artifact(kind: str | None, *, config_type: str = EMPTY["mediaType"], **extra: object) -> Manifest:
    doc: dict[str, object] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                              "config": {**EMPTY, "mediaType": config_type}, "layers": [],
                              "subject": {"mediaType": mt.OCI_MANIFEST, "digest": str(SUBJECT), "size": 7}}
    if kind is not None:
        doc["artifactType"] = kind
    doc.update(extra)
    return Manifest.parse(json.dumps(doc).encode(), mt.OCI_MANIFEST)


def _index(entries: list[dict[str, object]], **extra: object) -> Manifest:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries, **extra}
    return Manifest.parse(json.dumps(doc).encode(), mt.OCI_INDEX)


def test_fallback_and_legacy_tags_follow_the_spec_and_cosign() -> None:
    assert fallback_tag(SUBJECT) == f"sha256-{SUBJECT.hex}"
    long = Digest.of(b"x", "sha512")
    assert fallback_tag(long) == f"sha512-{long.hex[:64]}"  # the encoded part is cut to 64
    assert legacy_tags(SUBJECT) == tuple(f"sha256-{SUBJECT.hex}.{s}" for s in ("sig", "att", "sbom"))
    assert legacy_subject(f"sha256-{SUBJECT.hex}.att") == SUBJECT
    assert fallback_subject(fallback_tag(SUBJECT)) == SUBJECT
    assert fallback_subject(fallback_tag(long)) is None  # cut: the digest cannot be read back
    short = f"sha256-{SUBJECT.hex[:10]}.sig"
    for tag in (f"sha256-{SUBJECT.hex}.zip", "v1.sig", short, fallback_tag(SUBJECT)):
        assert legacy_subject(tag) is None
    assert fallback_subject(f"sha256-{SUBJECT.hex}.sig") is None


def test_manifest_artifact_type_and_annotations_are_parsed() -> None:
    sbom = _artifact("application/spdx+json", annotations={"org.example.format": "spdx", "n": 3})
    assert sbom.artifact_type == "application/spdx+json" and sbom.subject is not None
    assert dict(sbom.annotations) == {"org.example.format": "spdx"}  # a non-string value is left out
    desc = referrer_descriptor(sbom)
    assert desc.artifact_type == "application/spdx+json" and desc.digest == sbom.digest
    assert desc.to_json()["artifactType"] == "application/spdx+json"
    assert desc.to_json()["annotations"] == {"org.example.format": "spdx"}
    parsed = Descriptor.from_json(desc.to_json(), "entry")
    assert parsed.artifact_type == "application/spdx+json"


def test_artifact_type_falls_back_to_the_config_media_type() -> None:
    assert artifact_type(_artifact(None, config_type="application/vnd.example.sig+json")) == (
        "application/vnd.example.sig+json")
    assert artifact_type(_index([])) is None  # an index without artifactType has none


def test_a_referrers_tag_that_is_not_a_list_is_named() -> None:
    good = _index([])
    assert referrers_list_problem(good, SUBJECT) is None
    assert referrers_list_problem(good, good.digest) == "it is the subject itself"
    problem = referrers_list_problem(_artifact("x"), SUBJECT)
    assert problem is not None and "not an OCI image index" in problem
    docker_list = Manifest.parse(json.dumps({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST,
                                             "manifests": []}).encode(), None)
    assert referrers_list_problem(docker_list, SUBJECT) is not None


def test_merge_keeps_every_entry_and_field_already_there() -> None:
    other = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"other")), "size": 9,
             "artifactType": "application/vnd.other", "annotations": {"by": "someone else"},
             "x-unknown-field": [1, 2]}
    current = _index([other], annotations={"keep": "me"})
    sbom = referrer_descriptor(_artifact("application/spdx+json", annotations={"a": "b"}))
    merged = merge_referrers(current, [sbom, sbom])
    assert merged is not None
    doc = json.loads(merged)
    assert doc["annotations"] == {"keep": "me"}
    assert doc["manifests"][0] == other  # byte-for-byte the same object, unknown field included
    assert doc["manifests"][1] == {"mediaType": mt.OCI_MANIFEST, "digest": str(sbom.digest),
                                   "size": sbom.size, "artifactType": "application/spdx+json",
                                   "annotations": {"a": "b"}}
    assert len(doc["manifests"]) == 2  # no duplicate
    again = Manifest.parse(merged, mt.OCI_INDEX)
    assert merge_referrers(again, [sbom]) is None  # nothing new: nothing to write


def test_merge_starts_an_empty_oci_index() -> None:
    sbom = referrer_descriptor(_artifact("application/spdx+json"))
    merged = merge_referrers(None, [sbom])
    assert merged is not None
    index = Manifest.parse(merged, None)
    assert index.media_type == mt.OCI_INDEX and [c.digest for c in index.children] == [sbom.digest]


def test_merge_refuses_what_is_not_an_index_object() -> None:
    fake = Manifest(b"[]", mt.OCI_INDEX, ())
    with pytest.raises(InputError):
        merge_referrers(fake, [referrer_descriptor(_artifact("x"))])


def test_layout_entries_name_their_subject_and_never_a_ref_name() -> None:
    sig = _artifact("application/vnd.example.sig", annotations={REF_NAME: "sneaky:v1", "k": "v"})
    linked = referrer_entry(SUBJECT, Referrer(referrer_descriptor(sig)))
    assert dict(linked.annotations) == {"k": "v", SUBJECT_ANNOTATION: str(SUBJECT)}
    assert entry_referrer(IndexEntry(linked, None)) == (SUBJECT, None)
    tag = legacy_tags(SUBJECT)[0]
    legacy = referrer_entry(SUBJECT, Referrer(referrer_descriptor(sig), tag))
    assert legacy.annotations[TAG_ANNOTATION] == tag
    assert entry_referrer(IndexEntry(legacy, None)) == (SUBJECT, tag)


def test_entries_named_by_a_legacy_tag_are_referrers_images_are_not() -> None:
    plain = Descriptor(mt.OCI_MANIFEST, Digest.of(b"m"), 1)
    tag = legacy_tags(SUBJECT)[2]
    assert entry_referrer(IndexEntry(plain, tag)) == (SUBJECT, tag)  # skopeo's oci:DIR:TAG
    assert entry_referrer(IndexEntry(plain, f"registry.example:5000/app:{tag}")) == (SUBJECT, tag)
    for name in ("registry.example:5000/app:v1", "v1", None, f"app@{SUBJECT}"):
        assert entry_referrer(IndexEntry(plain, name)) is None
