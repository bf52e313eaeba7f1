"""Manifests: raw bytes kept, children derived, schema 1 and contradictions refused."""

from __future__ import annotations

import json
import random

import pytest

from relocator.errors import InputError, UnsupportedMediaType
from relocator.oci import Digest, Manifest
from relocator.oci import mediatypes as mt
from tests.images import random_image, random_index


def test_image_manifest_view_keeps_bytes() -> None:
    image = random_image(random.Random(1), (10, 20))
    m = Manifest.parse(image.raw, None)
    assert m.raw == image.raw and m.media_type == mt.OCI_MANIFEST
    assert str(m.digest) == image.digest and m.descriptor.size == len(image.raw)
    assert m.config is not None and [str(c.digest) for c in m.children] == list(image.blobs)
    assert len(m.layers) == 2 and not m.is_index


def test_index_and_subject() -> None:
    rng = random.Random(2)
    index = random_index([random_image(rng), random_image(rng, docker=True)], docker=True)
    m = Manifest.parse(index.raw, mt.DOCKER_MANIFEST_LIST)
    assert m.is_index and m.config is None and m.layers == ()
    assert [str(c.platform) for c in m.children] == ["linux/amd64", "linux/arm64"]
    doc = json.loads(random_image(rng).raw)
    doc["subject"] = {"mediaType": mt.OCI_MANIFEST, "digest": index.digest, "size": len(index.raw)}
    with_subject = Manifest.parse(json.dumps(doc).encode(), mt.OCI_MANIFEST)
    assert with_subject.subject is not None and str(with_subject.subject.digest) == index.digest


def test_artifact_with_custom_config_type() -> None:
    image = random_image(random.Random(3), config_media_type="application/vnd.example.config.v1+json")
    m = Manifest.parse(image.raw, mt.OCI_MANIFEST)
    assert m.config is not None and m.config.media_type == "application/vnd.example.config.v1+json"


@pytest.mark.parametrize("media_type", [mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED, None])
def test_schema1_refused(media_type: str | None) -> None:
    raw = b'{"schemaVersion": 1, "name": "a", "tag": "b", "fsLayers": []}'
    with pytest.raises(UnsupportedMediaType, match="img:v1: Docker schema 1"):
        Manifest.parse(raw, media_type, "img:v1")


def test_contradicting_media_type_and_garbage() -> None:
    image = random_image(random.Random(4))
    with pytest.raises(InputError, match="served as"):
        Manifest.parse(image.raw, mt.DOCKER_MANIFEST)
    with pytest.raises(InputError, match="not valid JSON"):
        Manifest.parse(b"{nope", mt.OCI_MANIFEST)
    with pytest.raises(InputError, match="needs 'config' and 'layers'"):
        Manifest.parse(b'{"schemaVersion": 2, "mediaType": "%s"}' % mt.OCI_MANIFEST.encode(), None)
    with pytest.raises(UnsupportedMediaType):
        Manifest.parse(b'{"schemaVersion": 2}', "text/plain")


def test_descriptor_json_round_trip() -> None:
    rng = random.Random(5)
    index = random_index([random_image(rng)])
    child = Manifest.parse(index.raw, None).children[0]
    assert child.to_json()["digest"] == index.children[0].digest
    assert child.digest == Digest.parse(index.children[0].digest)
