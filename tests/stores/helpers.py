"""What the store tests share: one engine run into any sink, and ``assert_valid_store``."""

from __future__ import annotations

import random
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from relocator.commands.common import open_client
from relocator.config import Limits
from relocator.engine.copy import copy
from relocator.engine.events import Report
from relocator.engine.target import ImageInput
from relocator.frontends.layout_names import layout_images, layout_mapper
from relocator.oci import Reference, Repository
from relocator.stores.base import BlobSink
from relocator.stores.layout_source import open_layout
from relocator.stores.registry import RegistryStore
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import Image, random_index, seed, sha256, skopeo_raw_manifest, valid_image
from tests.registries import Registry

NESTED, DOCKER = "contract/nested:v1", "contract/docker:v1"


def contract_images(reg: Registry) -> dict[str, Image]:
    """The shared store-contract image set, seeded into ``reg``: an OCI index holding an OCI image
    and a Docker manifest list of two Docker images (``NESTED``), and a plain Docker image
    (``DOCKER``). Keys are ``repo:tag`` on ``reg``; the same seed gives the same bytes."""
    rng = random.Random(60)
    docker_list = random_index([valid_image(rng, (3000,), docker=True),
                                valid_image(rng, (4000, 500), docker=True)], docker=True)
    found = {NESTED: random_index([valid_image(rng, (5000, 700)), docker_list]),
             DOCKER: valid_image(rng, (6000,), docker=True)}
    for name, image in found.items():
        repo, tag = name.split(":")
        seed(reg, repo, tag, image)
    return found


def inputs_for(refs: list[str]) -> list[ImageInput]:
    """One ``-i REF`` input per reference."""
    return [ImageInput(ref, Reference.parse(ref), "-i") for ref in refs]


def onto(reg: Registry) -> Callable[[Reference], Reference]:
    """Each image to the same repository path and tag on ``reg``."""
    return lambda ref: ref.in_repository(Repository(reg.host, ref.repository.path))


async def into_sink(refs: list[str], sink: BlobSink, limits: Limits | None = None) -> Report:
    """Copy images from their registry into ``sink``, named by their references; fails on any failure."""
    async with open_client(settings_for()) as client:
        _, report = await copy(RegistryStore(client), sink, inputs_for(refs), lambda ref: ref,
                               limits or Limits(), QuietReporter())
    assert report.failed == {}, report.failed
    return report


async def layout_to_registry(path: Path, reg: Registry) -> Report:
    """Push every named image of an OCI layout (directory or tar) to ``reg``, read by ``open_layout``."""
    source = open_layout(path)
    images = layout_images(source.where, source.entries, prefix=reg.host)  # as unpkg --prefix HOST
    async with open_client(settings_for()) as client:
        _, report = await copy(source, RegistryStore(client), [i.input for i in images],
                               layout_mapper(images), Limits(), QuietReporter())
    assert report.failed == {}, report.failed
    return report


def walk(image: Image) -> Iterator[Image]:
    """The image and every manifest under it."""
    yield image
    for child in image.children:
        yield from walk(child)


def assert_valid_store(reg: Registry, images: dict[str, Image]) -> None:
    """Every image of ``images`` (``repo:tag`` on ``reg``) is there byte for byte: each manifest's
    bytes as skopeo reads them hash to its digest (by tag at the top, by digest below), and every
    blob is there with its size."""
    for name, image in images.items():
        repo = name.rsplit(":", 1)[0]
        assert sha256(skopeo_raw_manifest(reg, name)) == image.digest, name
        for manifest in walk(image):
            assert sha256(skopeo_raw_manifest(reg, f"{repo}@{manifest.digest}")) == manifest.digest
            for digest, data in manifest.blobs.items():
                head = urllib.request.Request(f"{reg.url}/v2/{repo}/blobs/{digest}", method="HEAD")
                with urllib.request.urlopen(head, timeout=30) as resp:
                    assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(data)
