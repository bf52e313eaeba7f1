"""TarballWriter: the one task that owns the output tar; ``.partial``, resume, then rename.

Layout of the file: ``oci-layout``, then every blob once in the order downloads finish, then the
manifests sorted by digest, then ``index.json``. A download that finds the writer idle streams
straight into the file (cut back on failure); the others spool and queue. With one download at a
time the order is the plan's, so a resumed run produces the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from relocator.errors import InputError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import INDEX_JSON, LAYOUT_FILE, OCI_LAYOUT, IndexEntry, build_index, member_digest
from relocator.stores.base import Opener
from relocator.stores.spool import Spool

__all__ = ["TarballWriter", "tar_header"]

BLOCK = 512
_BATCH = 4 << 20


def tar_header(name: str, size: int) -> bytes:
    """A deterministic header: mode 0644, owner 0, mtime 0; PAX records only where needed."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    size: int
    data: bytes | None = None
    spooled: Path | None = None


class TarballWriter:
    """A BlobSink writing one OCI-layout tar; downloads spool, one task appends."""

    def __init__(self, path: Path | None, spool: Spool) -> None:
        self.path = path  # None: stream to stdout, no resume
        self.partial = path.with_name(path.name + ".partial") if path is not None else None
        self.spool = spool
        self.resumed: set[Digest] = set()
        self._present: set[Digest] = set()
        self._manifests: dict[Digest, bytes] = {}
        self._index: list[IndexEntry] = []
        self._queue: asyncio.Queue[_Entry | None] = asyncio.Queue()
        self._out: BinaryIO | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # held by whoever appends to the file

    async def open(self) -> None:
        """Open the output, keeping the verified members of an earlier partial file."""
        if self.partial is None:
            self._out = sys.stdout.buffer
        else:
            try:
                self.partial.parent.mkdir(parents=True, exist_ok=True)
                keep = await asyncio.to_thread(_scan_partial, self.partial)
                self._out = self.partial.open("r+b" if keep else "wb")
            except OSError as exc:
                raise InputError(f"{self.partial}: cannot write ({exc.strerror})") from None
            if keep:
                good_end, digests = keep
                self._out.truncate(good_end)
                self._out.seek(good_end)
                self.resumed = set(digests)
                self._present |= self.resumed
        if not self.resumed:
            self._write_member(LAYOUT_FILE, OCI_LAYOUT)
        self._task = asyncio.ensure_future(self._writer())

    def set_index(self, entries: list[IndexEntry]) -> None:
        """The index.json descriptors, written last."""
        self._index = entries

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True once the blob is in the file or on its way there."""
        return desc.digest in self._present

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests are collected and written at the end; none is there before."""
        return ref.digest is not None and ref.digest in self._manifests

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Stream into the tar if the writer is idle; else spool, then queue: never wait on it."""
        if desc.digest in self._present:
            return
        self._present.add(desc.digest)
        if self.partial is not None and not self._lock.locked() and self._queue.empty():
            async with self._lock:
                try:
                    await self._write_direct(desc, opener)
                except BaseException:
                    self._present.discard(desc.digest)
                    raise
            return
        try:
            await self.spool.reserve(desc.size)
            try:
                spooled = await self.spool.fill(opener(0))
            except BaseException:
                await self.spool.release(desc.size)
                raise
        except BaseException:
            self._present.discard(desc.digest)
            raise
        await self._queue.put(_Entry(desc.digest.blob_path, desc.size, spooled=spooled))

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Keep the manifest's bytes for the end (tags need nothing more: index.json names them)."""
        self._manifests.setdefault(manifest.digest, manifest.raw)

    async def close(self, success: bool) -> None:
        """Finish the tar and rename it into place, or leave the partial file for a resume."""
        if self._task is None or self._out is None:
            return
        await self._queue.put(None)
        await self._task
        try:
            if not success:
                return
            for digest in sorted(self._manifests):
                if digest not in self.resumed:
                    self._write_member(digest.blob_path, self._manifests[digest])
            self._write_member(INDEX_JSON, build_index(self._index))
            self._out.write(b"\0" * BLOCK * 2)
            self._out.flush()
            if self.partial is not None and self.path is not None:
                await asyncio.to_thread(os.fsync, self._out.fileno())
                self._out.close()
                os.replace(self.partial, self.path)
        finally:
            self.spool.remove()
            if self.partial is not None and not self._out.closed:
                self._out.close()

    def _write_member(self, name: str, data: bytes) -> None:
        assert self._out is not None
        self._out.write(tar_header(name, len(data)) + data + _padding(len(data)))

    async def _write_direct(self, desc: Descriptor, opener: Opener) -> None:
        """Stream a download straight into the file; on any failure cut the file back."""
        out = self._out
        assert out is not None
        start = out.tell()
        try:
            out.write(tar_header(desc.digest.blob_path, desc.size))
            pieces: list[bytes] = []
            pending = 0
            async for chunk in opener(0):
                pieces.append(chunk)
                pending += len(chunk)
                if pending >= _BATCH:
                    # A write can block on dirty-page throttling: keep it off the event loop.
                    # writelines hands each chunk to the file as is: no joining copy.
                    await asyncio.to_thread(out.writelines, pieces)
                    pieces, pending = [], 0
            out.writelines([*pieces, _padding(desc.size)])
        except BaseException:
            out.seek(start)
            out.truncate(start)
            raise

    async def _writer(self) -> None:
        assert self._out is not None
        while (entry := await self._queue.get()) is not None:
            try:
                async with self._lock:
                    if entry.data is not None:
                        self._write_member(entry.name, entry.data)
                    elif entry.spooled is not None:
                        await asyncio.to_thread(self._copy_spooled, entry)
            finally:
                if entry.spooled is not None:
                    await asyncio.to_thread(entry.spooled.unlink, missing_ok=True)
                    await self.spool.release(entry.size)

    def _copy_spooled(self, entry: _Entry) -> None:
        assert self._out is not None and entry.spooled is not None
        out = self._out
        out.write(tar_header(entry.name, entry.size))
        out.flush()
        with entry.spooled.open("rb") as src:
            offset, fd = 0, out.fileno()
            while offset < entry.size:
                sent = os.sendfile(fd, src.fileno(), offset, entry.size - offset)
                if sent == 0:
                    raise RelocatorError(f"spool file for {entry.name} is shorter than {entry.size} bytes")
                offset += sent
        if self.partial is not None:
            out.seek(0, os.SEEK_END)
        out.write(_padding(entry.size))


def _scan_partial(path: Path) -> tuple[int, list[Digest]] | None:
    """End offset of the verified prefix of a partial tar and the blobs in it; None if unusable."""
    if not path.exists():
        return None
    digests: list[Digest] = []
    good_end = 0
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isreg() or member.name == INDEX_JSON:
                    break
                digest = member_digest(member.name)
                if digest is not None:
                    f = tar.extractfile(member)
                    assert f is not None
                    h = hashlib.new(digest.algorithm)
                    while block := f.read(1 << 20):
                        h.update(block)
                    if h.hexdigest() != digest.hex or member.size != f.tell():
                        break
                    digests.append(digest)
                good_end = member.offset_data + member.size + (-member.size % BLOCK)
    except (tarfile.TarError, RelocatorError, OSError):
        pass  # a torn last member: keep what verified before it
    return (good_end, digests) if good_end else None
