"""TarballStream: the tar for ``pkg -o -``, where nothing can seek, from one writer task.

Order: ``oci-layout``, every blob once in the order downloads finish, the manifests by digest,
``index.json``. Every download finishes into a bounded on-disk spool and queues, so no download
waits on the writer and no unverified byte reaches the pipe (which could not take it back).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import INDEX_JSON, LAYOUT_FILE, OCI_LAYOUT, IndexNames
from relocator.stores.base import Opener
from relocator.stores.spool import Spool
from relocator.stores.tarball import padding, tar_header

__all__ = ["TarballStream"]


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    size: int
    spooled: Path


class TarballStream:
    """A BlobSink writing one OCI-layout tar to a pipe; downloads spool, one task appends."""

    def __init__(self, out: BinaryIO, spool: Spool) -> None:
        self.spool = spool
        self._out = out
        self.names = IndexNames("-")
        self._present: set[Digest] = set()
        self._manifests: dict[Digest, bytes] = {}
        self._queue: asyncio.Queue[_Entry | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Write ``oci-layout`` and start the writer task."""
        self._write_member(LAYOUT_FILE, OCI_LAYOUT)
        self._task = asyncio.ensure_future(self._writer())

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True once the blob is in the stream or on its way there."""
        return desc.digest in self._present

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests are collected and written at the end; none is there before."""
        return ref.digest is not None and ref.digest in self._manifests

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Spool, then queue for the writer: never wait on it."""
        if desc.digest in self._present:
            return
        self._present.add(desc.digest)
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
        await self._queue.put(_Entry(desc.digest.blob_path, desc.size, spooled))

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Keep the manifest's bytes for the end (tags need nothing more: index.json names them)."""
        self._manifests.setdefault(manifest.digest, manifest.raw)

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Record the image's name for ``index.json``."""
        self.names.add(ref, manifest)

    async def close(self, success: bool) -> None:
        """Drain the queue and, if every image made it, end the tar with manifests and index.json."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        try:
            if success:
                for digest in sorted(self._manifests):
                    self._write_member(digest.blob_path, self._manifests[digest])
                self._write_member(INDEX_JSON, self.names.index())
                self._out.write(b"\0" * 1024)
                self._out.flush()
        finally:
            self.spool.remove()

    def _write_member(self, name: str, data: bytes) -> None:
        self._out.write(tar_header(name, len(data)) + data + padding(len(data)))

    async def _writer(self) -> None:
        while (entry := await self._queue.get()) is not None:
            try:
                await asyncio.to_thread(self._copy_spooled, entry)
            finally:
                await asyncio.to_thread(entry.spooled.unlink, missing_ok=True)
                await self.spool.release(entry.size)

    def _copy_spooled(self, entry: _Entry) -> None:
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
        out.write(padding(entry.size))
