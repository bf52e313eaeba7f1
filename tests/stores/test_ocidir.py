"""OciDirStore on its own: merging into an existing layout, cheap re-runs, what a failure leaves."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import tarfile
from pathlib import Path

import pytest

from relocator.commands.common import open_client
from relocator.config import Limits
from relocator.engine.copy import copy
from relocator.engine.events import Outcome
from relocator.errors import InputError
from relocator.stores.ocidir import OciDirStore
from relocator.stores.registry import RegistryStore
from relocator.stores.tarball import TarballFile
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import Image, random_index, seed, sha256, skopeo, valid_image
from tests.registries import Registry
from tests.stores.helpers import inputs_for, into_sink, walk


def _seed(reg: Registry, seed_value: int) -> dict[str, Image]:
    rng = random.Random(seed_value)
    images = {"ocidir/a:v1": valid_image(rng, (4000, 300)),
              "ocidir/b:v1": valid_image(rng, (5000,), docker=True),
              "ocidir/c:v1": random_index([valid_image(rng, (700,)), valid_image(rng, (800,))])}
    for name, image in images.items():
        repo, tag = name.split(":")
        seed(reg, repo, tag, image)
    return {f"{reg.host}/{name}": image for name, image in images.items()}


def _index(path: Path) -> list[tuple[str | None, str]]:
    doc = json.loads((path / "index.json").read_text())
    return [(m.get("annotations", {}).get("org.opencontainers.image.ref.name"), m["digest"])
            for m in doc["manifests"]]


def _inspect(path: Path, name: str) -> str:
    return sha256(skopeo("inspect", "--raw", f"oci:{path}:{name}").encode())


async def test_merges_into_a_skopeo_layout_and_moves_a_name(registry: Registry, tmp_path: Path) -> None:
    refs = _seed(registry, 70)
    a, _, c = refs
    layout = tmp_path / "layout"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{a}", f"oci:{layout}:other")
    await into_sink([a], OciDirStore(layout, name="app"))
    assert _index(layout) == [("other", refs[a].digest), ("app", refs[a].digest)]
    await into_sink([c], OciDirStore(layout, name="app"))  # the name now points at another image
    assert _index(layout) == [("other", refs[a].digest), ("app", refs[c].digest)]
    assert _inspect(layout, "other") == refs[a].digest and _inspect(layout, "app") == refs[c].digest
    umoci = await asyncio.create_subprocess_exec("umoci", "ls", "--layout", str(layout),
                                                 stdout=asyncio.subprocess.PIPE)
    listed, _ = await umoci.communicate()
    assert umoci.returncode == 0 and sorted(listed.decode().split()) == ["app", "other"]


async def test_rerun_moves_nothing_and_a_damaged_blob_is_fetched_again(registry: Registry,
                                                                      tmp_path: Path) -> None:
    refs = _seed(registry, 71)
    layout, tar = tmp_path / "layout", tmp_path / "same.tar"
    manifests = [m for image in refs.values() for m in walk(image)]
    blobs = {d for m in manifests for d in m.blobs}
    first = await into_sink(list(refs), OciDirStore(layout))
    assert first.blobs[Outcome.TRANSFERRED] == len(blobs)
    await into_sink(list(refs), TarballFile(tar))
    index = (layout / "index.json").read_bytes()
    with tarfile.open(tar) as t:  # a new layout's index.json is the tarball's, byte for byte
        assert t.extractfile("index.json").read() == index  # type: ignore[union-attr]
    files = [p.stat().st_mode & 0o777 for p in layout.rglob("*") if p.is_file()]
    assert files == [0o644] * (len(blobs) + len(manifests) + 2)  # readable by all, like skopeo's

    again = await into_sink(list(refs), OciDirStore(layout))
    assert again.bytes_moved == 0 and again.blobs[Outcome.SKIPPED] == len(blobs)
    assert (layout / "index.json").read_bytes() == index  # merging the same names changes nothing

    layer = next(d for d in refs[next(iter(refs))].blobs if len(refs[next(iter(refs))].blobs[d]) > 4000)
    damaged = layout / "blobs" / "sha256" / layer.split(":")[1]
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF
    damaged.write_bytes(bytes(data))
    repaired = await into_sink(list(refs), OciDirStore(layout))
    assert repaired.blobs[Outcome.TRANSFERRED] == 1 and sha256(damaged.read_bytes()) == layer


async def test_a_failed_image_is_left_out_of_the_index_and_no_temp_files(registry: Registry,
                                                                          tmp_path: Path) -> None:
    refs = _seed(registry, 72)
    first = next(iter(refs))
    layout = tmp_path / "layout"
    await into_sink([first], OciDirStore(layout))
    index = (layout / "index.json").read_bytes()
    stale = layout / "blobs" / "sha256" / ".relocator-0123456789abcdef-killed"
    stale.write_bytes(b"left by a run killed with -9")
    missing = f"{registry.host}/ocidir/missing:v1"
    async with open_client(settings_for()) as client:
        _, report = await copy(RegistryStore(client), OciDirStore(layout), inputs_for([*refs, missing]),
                               lambda ref: ref, Limits(), QuietReporter(), fail_fast=True)
    assert set(report.failed) == {*refs, missing} and not report.written
    assert (layout / "index.json").read_bytes() == index  # all or nothing: nothing named
    async with open_client(settings_for()) as client:
        _, report = await copy(RegistryStore(client), OciDirStore(layout), inputs_for([*refs, missing]),
                               lambda ref: ref, Limits(), QuietReporter())
    assert set(report.failed) == {missing} and set(report.done) == set(refs)
    assert report.written and report.output == str(layout) and report.without == [missing]
    names = [m["annotations"]["org.opencontainers.image.ref.name"]
             for m in json.loads((layout / "index.json").read_text())["manifests"]]
    assert sorted(names) == sorted(refs)  # every image that made it, and only those
    assert not stale.exists() and not list(layout.rglob(".relocator-*"))
    rest = await into_sink(list(refs), OciDirStore(layout))
    assert rest.bytes_moved == 0

    nothing = tmp_path / "new"
    async with open_client(settings_for()) as client:
        _, report = await copy(RegistryStore(client), OciDirStore(nothing), inputs_for([missing]),
                               lambda ref: ref, Limits(), QuietReporter())
    assert report.failed and not nothing.exists()  # a directory it made and wrote nothing into


async def test_refuses_a_directory_that_is_not_a_layout_or_is_being_written(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="neither empty nor an OCI image layout"):
        await OciDirStore(tmp_path / "home").prepare([], [])
    busy = tmp_path / "busy"
    busy.mkdir()
    fd = os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another relocator run is writing it"):
            await OciDirStore(busy).prepare([], [])
    finally:
        os.close(fd)
    store = OciDirStore(busy)
    await store.prepare([], [])
    await store.close(set())  # commits: no image, an empty index
    assert json.loads((busy / "index.json").read_text())["manifests"] == []
    assert (busy / "oci-layout").read_bytes() == b'{"imageLayoutVersion":"1.0.0"}'
