"""TarballStream under the engine: downloads finish in any order, the members never do, one budget
bounds downloads and spool together, and a failed blob leaves out its image without a hang.

The source is in memory because what is tested is the order downloads finish in, which a real
registry on loopback does not let a test choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import json
import os
import random
import tarfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from relocator.config import Limits
from relocator.engine.copy import copy
from relocator.engine.target import ImageInput, Target
from relocator.errors import DigestMismatch
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.stores.base import Opener
from relocator.stores.budget import ByteBudget
from relocator.stores.spool import Spool
from relocator.stores.tarball import TarballFile
from relocator.stores.tarstream import TarballStream
from relocator.ui.render import QuietReporter
from tests.images import Image, random_image, random_index

LIMIT = 100_000


class MemorySource:
    """A BlobSource over images in memory; ``pace`` picks each blob's delay per chunk."""

    def __init__(self, images: dict[str, Image], seed: int) -> None:
        self.manifests: dict[str, Manifest] = {}
        self.blobs: dict[Digest, bytes] = {}
        self.rng = random.Random(seed)
        self.broken: set[Digest] = set()
        self.spool_dir: Path | None = None
        self.spool_samples: list[tuple[int, int]] = []  # (bytes spooled, files)
        for tag, image in images.items():
            self._add(image, tag)

    def _add(self, image: Image, tag: str | None = None) -> None:
        manifest = Manifest.parse(image.raw, image.media_type)
        self.manifests[str(manifest.digest)] = manifest
        if tag is not None:
            self.manifests[tag] = manifest
        self.blobs |= {Digest.parse(d): data for d, data in image.blobs.items()}
        for child in image.children:
            self._add(child)

    async def get_manifest(self, ref: Reference) -> Manifest:
        return self.manifests[str(ref.digest) if ref.digest else str(ref.tag)]

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            yield self.blob_opener(repo, desc)(0)
        return ctx()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        data = self.blobs[desc.digest]
        # The largest blobs are the slowest: what is laid out first finishes last.
        pace = 0.002 * len(data) / LIMIT + self.rng.random() * 0.002

        async def chunks(offset: int) -> AsyncIterator[bytes]:
            for i in range(offset, len(data), 8192):
                await asyncio.sleep(pace)
                self._sample()
                if desc.digest in self.broken and i > len(data) // 2:
                    raise DigestMismatch(f"{desc.digest}: bytes hash to something else")
                yield data[i:i + 8192]

        return chunks

    def _sample(self) -> None:
        if self.spool_dir is not None and self.spool_dir.exists():
            sizes = []
            for p in self.spool_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):  # the writer's thread removes them
                    sizes.append(p.stat().st_size)
            self.spool_samples.append((sum(sizes), len(sizes)))


class RecordingBudget(ByteBudget):
    """Tracks the blobs holding room from admission until the writer has taken them."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.holding: dict[Digest | None, int] = {}
        self.peaks: list[tuple[int, int]] = []  # (bytes held, blobs held) at each admission

    async def acquire(self, n: int, digest: Digest | None = None) -> None:
        await super().acquire(n, digest)
        self.holding[digest] = n
        self.peaks.append((sum(self.holding.values()), len(self.holding)))

    async def passed(self, digest: Digest) -> None:
        await super().passed(digest)
        self.holding.pop(digest, None)  # a member skipped before it started never held room


def _images(seed: int) -> dict[str, Image]:
    rng = random.Random(seed)
    sizes = [rng.randrange(1_000, 45_000) for _ in range(14)]
    return {
        "big": random_image(rng, (150_000,)),  # larger than the whole budget: it goes alone
        "multi": random_index([random_image(rng, tuple(sizes[i:i + 3])) for i in range(0, 9, 3)]),
        "docker": random_image(rng, tuple(sizes[9:]), docker=True),
    }


def _inputs(images: dict[str, Image]) -> list[ImageInput]:
    repo = Repository.parse("127.0.0.1:1/mem/app")
    return [ImageInput(tag, Reference(repo, tag=tag), "-i") for tag in images]


async def _stream(source: MemorySource, images: dict[str, Image], tmp_path: Path,
                  concurrency: int) -> tuple[bytes, RecordingBudget, dict[str, str]]:
    """The tar ``copy`` streams, the budget it ran under, and the failed images."""
    out = io.BytesIO()  # no file descriptor: the writer copies instead of sendfile
    budget = RecordingBudget(LIMIT)
    source.spool_dir = tmp_path / "spool"
    sink = TarballStream(out, Spool(source.spool_dir), budget)
    limits = Limits(concurrency=concurrency, bytes_in_flight=LIMIT)
    _, report = await asyncio.wait_for(
        copy(source, sink, _inputs(images), lambda ref: ref, limits, QuietReporter()), 60)
    return out.getvalue(), budget, report.failed


async def test_out_of_order_downloads_give_the_file_tar_within_one_budget(tmp_path: Path) -> None:
    images = _images(1)
    file_tar = tmp_path / "file.tar"
    await copy(MemorySource(images, 0), TarballFile(file_tar), _inputs(images), lambda ref: ref,
               Limits(bytes_in_flight=LIMIT), QuietReporter())
    for concurrency in (1, 3, 16):
        source = MemorySource(images, concurrency)
        streamed, budget, failed = await _stream(source, images, tmp_path, concurrency)
        assert failed == {}
        assert streamed == file_tar.read_bytes(), f"concurrency {concurrency}"
        # Room is held from admission until the writer takes the blob: downloads and spool
        # together, never above the limit, except the one blob larger than it, alone.
        assert all(held <= LIMIT or count == 1 for held, count in budget.peaks)
        assert max(held for held, count in budget.peaks if count > 1) > LIMIT // 2  # it did fill up
        assert all(spooled <= LIMIT or files == 1 for spooled, files in source.spool_samples)
        assert source.spool_dir is not None and not source.spool_dir.exists()
        assert budget.holding == {} and budget.in_flight == 0
    with tarfile.open(file_tar) as tar:
        assert tar.getnames()[0] == "oci-layout" and tar.getnames()[-1] == "index.json"


def _blob_names(image: Image) -> set[str]:
    found = {Digest.parse(d).blob_path for d in image.blobs} | {Digest.parse(image.digest).blob_path}
    for child in image.children:
        found |= _blob_names(child)
    return found


def _listing(tar_bytes: bytes) -> tuple[list[str], list[str]]:
    """Every member's name (read to the end), and the ref names index.json lists."""
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    return names, sorted(m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"])


async def test_a_failed_blob_leaves_out_its_image_and_the_stream_goes_on(tmp_path: Path) -> None:
    images = _images(2)
    big = Manifest.parse(images["big"].raw, images["big"].media_type)
    broken = big.layers[0].digest  # the largest blob, first in the layout: half of it streams, then it fails
    file_tar = tmp_path / "file.tar"
    source = MemorySource(images, 0)
    source.broken = {broken}
    _, report = await copy(source, TarballFile(file_tar), _inputs(images), lambda ref: ref,
                           Limits(bytes_in_flight=LIMIT), QuietReporter())
    assert set(report.failed) == {"big"} and report.written
    names, named = _listing(file_tar.read_bytes())
    assert named == ["127.0.0.1:1/mem/app:docker", "127.0.0.1:1/mem/app:multi"]
    assert set(names) == {"oci-layout", "index.json", *_blob_names(images["multi"]),
                          *_blob_names(images["docker"])}  # nothing of big's, no hole
    for concurrency in (1, 3, 16):
        source = MemorySource(images, concurrency)
        source.broken = {broken}
        streamed, budget, failed = await _stream(source, images, tmp_path, concurrency)
        assert set(failed) == {"big"} and f"{broken}: bytes hash to something else" in failed["big"]
        # The writer waited at the failed blob until its image was lost, so it skipped the rest of
        # that image too: the same tar as the file's.
        assert streamed == file_tar.read_bytes(), f"concurrency {concurrency}"
        assert not (tmp_path / "spool").exists() and budget.holding == {} and budget.in_flight == 0

    # A blob that fails after others of its image were streamed: those stay, unreferenced; the
    # tar is whole and lists the finished images only.
    docker = Manifest.parse(images["docker"].raw, images["docker"].media_type)
    late = min((d for d in docker.layers if d.size > 3 * 8192), key=lambda d: d.size).digest  # fails late
    source = MemorySource(images, 5)
    source.broken = {late}
    streamed, budget, failed = await _stream(source, images, tmp_path, 3)
    assert set(failed) == {"docker"}
    names, named = _listing(streamed)
    assert named == ["127.0.0.1:1/mem/app:big", "127.0.0.1:1/mem/app:multi"]
    kept = {"oci-layout", "index.json", *_blob_names(images["big"]), *_blob_names(images["multi"])}
    assert kept <= set(names) and set(names) - kept <= _blob_names(images["docker"])
    assert late.blob_path not in names and docker.digest.blob_path not in names
    assert not (tmp_path / "spool").exists() and budget.in_flight == 0


class _FullAt(io.BytesIO):
    """A stream that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


class _Recording(QuietReporter):
    def __init__(self) -> None:
        self.images: list[tuple[str, str | None]] = []

    def image_done(self, target: Target, error: str | None) -> None:
        self.images.append((target.label, error))


async def test_a_commit_that_fails_fails_its_images_and_reports_none_done(tmp_path: Path) -> None:
    images = _images(3)
    whole, _, _ = await _stream(MemorySource(images, 1), images, tmp_path, 3)
    reporter = _Recording()
    out = _FullAt(len(whole) - 1)  # every blob fits; the tail with index.json does not
    sink = TarballStream(out, Spool(tmp_path / "spool"), ByteBudget(LIMIT))
    _, report = await asyncio.wait_for(copy(MemorySource(images, 1), sink, _inputs(images), lambda ref: ref,
                                            Limits(bytes_in_flight=LIMIT), reporter), 60)
    why = "not written: cannot write the tar stream (No space left on device)"
    assert report.done == {} and report.failed == dict.fromkeys(images, why) and not report.written
    assert sorted(reporter.images) == sorted((label, why) for label in images)  # never done
    assert not (tmp_path / "spool").exists()
