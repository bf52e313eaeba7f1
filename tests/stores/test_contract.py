"""Every sink the engine drives passes one contract: a nested index mixing Docker and OCI media
types round-trips byte-exact, registry -> sink -> registry, and skopeo reads what it should.

The image set: an OCI index holding an OCI image (linux/amd64) and a Docker manifest list of two
Docker images, plus a plain Docker image. Each hop is ``relocator.engine.copy.copy``; a layout
(directory or tar) is read back with ``open_layout``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relocator.commands.common import open_client
from relocator.config import Limits
from relocator.engine.copy import copy
from relocator.oci import Digest
from relocator.stores.base import BlobSink
from relocator.stores.budget import ByteBudget
from relocator.stores.layout_source import open_layout
from relocator.stores.ocidir import OciDirStore
from relocator.stores.registry import RegistryStore
from relocator.stores.spool import Spool
from relocator.stores.tarball import TarballFile
from relocator.stores.tarstream import TarballStream
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import (
    OCI_INDEX,
    Image,
    sha256,
    skopeo,
    skopeo_raw_manifest,
)
from tests.registries import Registry
from tests.stores.helpers import (
    NESTED,
    assert_valid_store,
    contract_images,
    inputs_for,
    into_sink,
    layout_to_registry,
    onto,
    walk,
)


@pytest.fixture(scope="module")
def images(registry: Registry) -> dict[str, Image]:
    """The image set, seeded once into the shared registry; keys are ``repo:tag`` there."""
    return contract_images(registry)


async def test_registry_to_registry(registry: Registry, fresh_registry: Registry,
                                    images: dict[str, Image]) -> None:
    async with open_client(settings_for()) as client:
        store = RegistryStore(client)
        _, report = await copy(store, store, inputs_for([f"{registry.host}/{n}" for n in images]),
                               onto(fresh_registry), Limits(), QuietReporter())
    assert report.failed == {}
    assert_valid_store(fresh_registry, images)


def _sink(kind: str, path: Path, out: list[Any]) -> BlobSink:
    if kind == "ocidir":
        return OciDirStore(path)
    if kind == "tarball":
        return TarballFile(path)
    f = path.open("wb")  # a file object, as stdout would be
    out.append(f)
    return TarballStream(f, Spool(path.parent / "spool"), ByteBudget(Limits().bytes_in_flight))


@pytest.mark.parametrize("kind", ["ocidir", "tarball", "tarstream"])
async def test_through_a_layout(kind: str, registry: Registry, fresh_registry: Registry,
                                images: dict[str, Image], tmp_path: Path) -> None:
    refs = {f"{registry.host}/{name}": image for name, image in images.items()}
    path = tmp_path / ("layout" if kind == "ocidir" else "images.tar")
    files: list[Any] = []
    try:
        await into_sink(list(refs), _sink(kind, path, files))
    finally:
        for f in files:
            f.close()
    assert not (tmp_path / "spool").exists()

    # Read back: every manifest and blob once, byte for byte; one named, truly typed entry per image.
    layout = open_layout(path)
    wanted = {Digest.parse(m.digest): m.raw for image in images.values() for m in walk(image)}
    blobs = {Digest.parse(d): data for image in images.values() for m in walk(image)
             for d, data in m.blobs.items()}
    assert layout.digests == set(wanted) | set(blobs)
    for digest, raw in wanted.items():
        assert await layout.read_small(digest) == raw
    entries = {e.ref_name: (str(e.descriptor.digest), e.descriptor.media_type) for e in layout.entries}
    assert entries == {ref: (image.digest, image.media_type) for ref, image in refs.items()}

    # skopeo 1.9.3 finds the OCI-typed entries (the nested index): its exact bytes, and a copy of
    # its linux/amd64 image (the OCI one) by digest.
    transport = "oci" if kind == "ocidir" else "oci-archive"
    nested_ref = f"{registry.host}/{NESTED}"
    nested = images[NESTED]
    assert nested.media_type == OCI_INDEX
    raw = skopeo("inspect", "--raw", f"{transport}:{path}:{nested_ref}").encode()
    assert sha256(raw) == nested.digest
    skopeo("copy", "-q", "--dest-tls-verify=false", f"{transport}:{path}:{nested_ref}",
           f"docker://{fresh_registry.host}/via-skopeo/{kind}:amd64")
    amd64 = nested.children[0]
    assert sha256(skopeo_raw_manifest(fresh_registry, f"via-skopeo/{kind}:amd64")) == amd64.digest

    # And on to a registry, where every manifest and blob must be what the source had.
    await layout_to_registry(path, fresh_registry)
    assert_valid_store(fresh_registry, images)
