"""TarballFile on its own: spans laid out from a plan, resume of any verified span, room check."""

from __future__ import annotations

import asyncio
import json
import os
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relocator.errors import InputError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import INDEX_JSON, LAYOUT_FILE, IndexEntry, build_index
from relocator.stores.tarball import TarballFile, TarLayout

REPO = Repository.parse("127.0.0.1:5000/app")
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blobs() -> dict[Digest, bytes]:
    datas = [os.urandom(n) for n in (70_000, 1_500, 300_000, 512)]
    return {Digest.of(d): d for d in datas}


def _manifest(blobs: dict[Digest, bytes]) -> Manifest:
    descs = [Descriptor.for_bytes(LAYER, d).to_json() for d in blobs.values()]
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {**descs[0], "mediaType": "application/vnd.oci.image.config.v1+json"},
           "layers": descs[1:]}
    return Manifest.parse(json.dumps(doc).encode(), None)


def _layout(blobs: dict[Digest, bytes], manifest: Manifest) -> TarLayout:
    return TarLayout.build(_descs(blobs), [(manifest.digest, manifest.raw)])


def _everything(blobs: dict[Digest, bytes], manifest: Manifest) -> set[Digest]:
    return {*blobs, manifest.digest}


def _descs(blobs: dict[Digest, bytes]) -> list[Descriptor]:
    return [Descriptor.for_bytes(LAYER, d) for d in blobs.values()]


async def _open(out: Path, blobs: dict[Digest, bytes], manifest: Manifest) -> TarballFile:
    tar = TarballFile(out)
    await tar.prepare(_descs(blobs), [manifest])
    await tar.write_tag(Reference(REPO, tag="v1", digest=manifest.digest), manifest)
    return tar


def _opener(data: bytes) -> object:
    async def chunks(offset: int) -> AsyncIterator[bytes]:
        for i in range(offset, len(data), 16_384):
            yield data[i:i + 16_384]
    return chunks


async def _write(tar: TarballFile, blobs: dict[Digest, bytes], only: set[Digest] | None = None) -> None:
    for digest, data in blobs.items():
        if only is None or digest in only:
            desc = Descriptor.for_bytes(LAYER, data)
            await tar.write_blob(REPO, desc, _opener(data))  # type: ignore[arg-type]


def test_layout_is_a_valid_tar_in_planned_order(tmp_path: Path) -> None:
    blobs = _blobs()
    manifest = _manifest(blobs)
    layout = _layout(blobs, manifest)
    out = tmp_path / "a.tar"

    async def go() -> None:
        tar = await _open(out, blobs, manifest)
        await _write(tar, blobs)
        await tar.close(_everything(blobs, manifest))

    asyncio.run(go())
    index = build_index([IndexEntry(manifest.descriptor, "127.0.0.1:5000/app:v1")])
    assert out.stat().st_size == layout.size + len(layout.tail(index))
    assert not (tmp_path / "a.tar.partial").exists()
    with tarfile.open(out) as t:
        names = t.getnames()
        by_size = sorted(blobs, key=lambda d: (-len(blobs[d]), str(d)))
        assert names == [LAYOUT_FILE, *(d.blob_path for d in by_size), manifest.digest.blob_path, INDEX_JSON]
        for digest, data in blobs.items():
            f = t.extractfile(digest.blob_path)
            assert f is not None and f.read() == data


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 1]))


def test_resume_keeps_every_verified_span_and_refetches_the_rest(tmp_path: Path) -> None:
    blobs = _blobs()
    manifest = _manifest(blobs)
    layout = _layout(blobs, manifest)
    first, second, third, fourth = blobs
    whole, out = tmp_path / "whole.tar", tmp_path / "out.tar"

    async def go() -> tuple[set[Digest], set[Digest]]:
        tar = await _open(whole, blobs, manifest)
        await _write(tar, blobs)
        await tar.close(_everything(blobs, manifest))

        broken = await _open(out, blobs, manifest)
        await _write(broken, blobs, {first, second, third})
        await broken.close(None)  # a run that commits nothing keeps the partial file
        _flip(tmp_path / "out.tar.partial", layout.blobs[second].data_offset + 100)

        again = await _open(out, blobs, manifest)
        resumed = set(again.resumed)
        await _write(again, blobs)
        await again.close(_everything(blobs, manifest))
        return resumed, set(blobs) - resumed

    resumed, fetched = asyncio.run(go())
    assert resumed == {first, third}  # the span after the damaged one is kept too
    assert fetched == {second, fourth}
    assert out.read_bytes() == whole.read_bytes()


def test_a_partial_file_of_another_layout_starts_over(tmp_path: Path) -> None:
    blobs = _blobs()
    manifest = _manifest(blobs)
    out = tmp_path / "out.tar"
    (tmp_path / "out.tar.partial").write_bytes(b"x" * 12_345)

    async def go() -> set[Digest]:
        tar = await _open(out, blobs, manifest)
        resumed = tar.resumed
        await _write(tar, blobs)
        await tar.close(_everything(blobs, manifest))
        return resumed

    assert asyncio.run(go()) == set()
    with tarfile.open(out) as t:
        assert len(t.getnames()) == 7


def test_refuses_to_start_without_room(tmp_path: Path) -> None:
    huge = Descriptor(LAYER, Digest.of(b"huge"), 1 << 60)
    tar = TarballFile(tmp_path / "big.tar")
    with pytest.raises(InputError, match=r"big\.tar\.partial: needs .* MB more, .* MB free there"):
        asyncio.run(tar.prepare([huge], []))
    assert list(tmp_path.iterdir()) == []


def _cut_opener(data: bytes, opened: list[int], cut: int | None = None) -> object:
    """Streams ``data`` from an offset in 16 KiB chunks, noting each offset asked for; with
    ``cut``, the stream breaks (an interrupted run) once that many bytes have gone out."""
    async def chunks(offset: int) -> AsyncIterator[bytes]:
        opened.append(offset)
        for i in range(offset, len(data), 16_384):
            if cut is not None and i >= cut:
                raise ConnectionResetError("cut off")
            yield data[i:i + 16_384]
    return chunks


def _interrupted(tmp_path: Path, damage: bool) -> tuple[list[int], bytes, bytes, set[Digest]]:
    """pkg's largest blob cut off at 160 KiB, then resumed (``damage``: with one byte of its
    prefix flipped in between); the offsets asked of the source, both tars, the blobs resumed."""
    blobs = _blobs()
    manifest = _manifest(blobs)
    layout = _layout(blobs, manifest)
    big = max(blobs, key=lambda d: len(blobs[d]))
    opened: list[int] = []
    whole, out = tmp_path / "whole.tar", tmp_path / "out.tar"

    async def go() -> set[Digest]:
        tar = await _open(whole, blobs, manifest)
        await _write(tar, blobs)
        await tar.close(_everything(blobs, manifest))

        broken = await _open(out, blobs, manifest)
        with pytest.raises(ConnectionResetError):
            await broken.write_blob(REPO, Descriptor.for_bytes(LAYER, blobs[big]),
                                    _cut_opener(blobs[big], [], cut=160 * 1024))  # type: ignore[arg-type]
        await broken.close(None)
        if damage:
            _flip(tmp_path / "out.tar.partial", layout.blobs[big].data_offset + 1000)

        again = await _open(out, blobs, manifest)
        prefixes = dict(again.prefixes)
        for digest, data in blobs.items():
            await again.write_blob(REPO, Descriptor.for_bytes(LAYER, data),
                                   _cut_opener(data, opened if digest == big else []))  # type: ignore[arg-type]
        await again.close(_everything(blobs, manifest))
        assert prefixes == {big: 160 * 1024}
        return set(prefixes)

    resumed = asyncio.run(go())
    return opened, whole.read_bytes(), out.read_bytes(), resumed


def test_a_blob_cut_off_resumes_from_the_bytes_the_journal_counted(tmp_path: Path) -> None:
    opened, whole, out, _ = _interrupted(tmp_path, damage=False)
    assert opened == [160 * 1024]  # only the rest was asked for
    assert out == whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar", "whole.tar"]  # no journal left


def test_a_resumed_blob_whose_prefix_was_damaged_is_fetched_again_from_0(tmp_path: Path) -> None:
    opened, whole, out, _ = _interrupted(tmp_path, damage=True)
    assert opened == [160 * 1024, 0]  # the whole blob's digest failed: fetched once more, from 0
    assert out == whole


def test_a_journal_of_another_layout_is_not_read(tmp_path: Path) -> None:
    blobs = _blobs()
    manifest = _manifest(blobs)
    layout = _layout(blobs, manifest)
    out = tmp_path / "out.tar"
    # A partial file of the right size beside a journal written for another plan.
    (tmp_path / "out.tar.partial").write_bytes(bytes(layout.size))
    (tmp_path / "out.tar.partial.journal").write_bytes(b"relocator tar journal 1 " + b"0" * 64 + b"\n"
                                                       + (1000).to_bytes(8, "big") * len(blobs))

    async def go() -> dict[Digest, int]:
        tar = await _open(out, blobs, manifest)
        prefixes = dict(tar.prefixes)
        await _write(tar, blobs)
        await tar.close(_everything(blobs, manifest))
        return prefixes

    assert asyncio.run(go()) == {}
    assert not (tmp_path / "out.tar.partial.journal").exists()
