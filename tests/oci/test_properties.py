"""Property-based: whatever the bytes, reference, digest, manifest and index.json parsing either
succeeds or raises the project's own error (RelocatorError), never anything else (issue 13)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relocator.errors import RelocatorError
from relocator.oci import Digest, Manifest, Reference
from relocator.oci import mediatypes as mt
from relocator.oci.layout import parse_index

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text near the grammar finds more edges than random unicode alone.
REF_ALPHABET = st.sampled_from(list("abcz019.-_:/@AZ") + ["sha256:", "a" * 64, "localhost", ":99999",
                                                         "docker.io/", "..", "//", " ", "\x00", "é"])
near_refs = st.lists(REF_ALPHABET, max_size=12).map("".join)

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(
    max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=20)

DESCRIPTOR_KEYS = st.sampled_from(["mediaType", "digest", "size", "urls", "platform", "annotations",
                                   "artifactType"])
descriptor = st.dictionaries(DESCRIPTOR_KEYS, json_values | st.just("sha256:" + "a" * 64)
                             | st.just(mt.OCI_MANIFEST) | st.integers(-5, 10), max_size=7)
manifest_docs = st.fixed_dictionaries({}, optional={
    "schemaVersion": st.sampled_from([1, 2, 3, "2", None]),
    "mediaType": st.sampled_from([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST,
                                  "application/vnd.docker.distribution.manifest.v1+json", "x", 7]),
    "config": descriptor | json_values,
    "layers": st.lists(descriptor, max_size=3) | json_values,
    "manifests": st.lists(descriptor, max_size=3) | json_values,
    "subject": descriptor | json_values,
    "annotations": json_values,
})
MEDIA_TYPES = st.sampled_from([None, mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST,
                               mt.DOCKER_MANIFEST_LIST, "application/json", "text/plain", ""])


def _only_ours(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except RelocatorError:
        pass


@SETTINGS
@given(st.text(max_size=80) | near_refs)
def test_references_parse_or_raise_ours(text: str) -> None:
    _only_ours(Reference.parse, text)


@SETTINGS
@given(st.text(max_size=90) | near_refs)
def test_digests_parse_or_raise_ours(text: str) -> None:
    _only_ours(Digest.parse, text)


@SETTINGS
@given(st.binary(max_size=200), MEDIA_TYPES)
def test_manifest_bytes_parse_or_raise_ours(raw: bytes, media_type: str | None) -> None:
    _only_ours(Manifest.parse, raw, media_type)


@SETTINGS
@given(manifest_docs, MEDIA_TYPES)
def test_manifest_documents_parse_or_raise_ours(doc: dict[str, Any], media_type: str | None) -> None:
    _only_ours(Manifest.parse, json.dumps(doc).encode(), media_type)


@SETTINGS
@given(st.fixed_dictionaries({}, optional={"schemaVersion": json_values,
                                           "manifests": st.lists(descriptor, max_size=3) | json_values,
                                           "mediaType": json_values}) | json_values)
def test_index_json_parses_or_raises_ours(doc: Any) -> None:
    _only_ours(parse_index, json.dumps(doc).encode(), "index.json")


@SETTINGS
@given(st.binary(max_size=120))
def test_index_json_bytes_parse_or_raise_ours(raw: bytes) -> None:
    _only_ours(parse_index, raw, "index.json")
