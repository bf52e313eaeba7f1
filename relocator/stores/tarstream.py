"""TarballStream: ``pkg -o -``, the same tar as ``pkg -o FILE``, appended where nothing can seek.

The layout is ``TarballFile``'s (``tarwriter.TarLayout``) and so is the writer: one task appends
the members in layout order through ``TarWriter``, so for the same images ``-o -`` and ``-o FILE``
give the same bytes. Every download finishes into the on-disk spool first, so no unverified byte
reaches the pipe (which could not take it back) and no download waits on the writer; a blob that
finishes before its turn waits there.

Why this cannot deadlock. The writer waits for its next member; every member it has not taken
yet holds room in the run's one byte budget, while it streams and while it waits in the spool.
``prepare`` has the budget follow the layout: a blob may start only inside the window of members
counted from the writer's next one whose sizes fit the limit, and that next one is always in it.
- The writer's next member is never refused room: everything before it has left the budget, and
  whatever holds room lies in the window with it. Spool plus downloads stay within the limit.
- A blob outside the window waits for room holding its host slot. It cannot hold the slot the
  writer's next member needs: the scheduler queues a host's blobs on its slots in transfer order
  (largest first, then by digest, as laid out here) and serves them first come, first served.
A member that fails or is cancelled breaks the stream: nothing after it can be written, so pending
waits resolve, the budget stops following, and later writes fail at once instead of downloading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import IndexNames
from relocator.stores.base import Opener
from relocator.stores.budget import ByteBudget
from relocator.stores.spool import Spool
from relocator.stores.tarwriter import PipeOutput, TarLayout, TarWriter

__all__ = ["TarballStream"]


class TarballStream:
    """A BlobSink writing one OCI-layout tar to a stream; downloads spool, one task appends.

    ``budget`` is the run's byte budget: the scheduler shares it (``SharesBudget``), and a blob
    keeps its room until the writer has appended it.
    """

    def __init__(self, out: BinaryIO, spool: Spool, budget: ByteBudget) -> None:
        self.spool = spool
        self.budget = budget
        self.names = IndexNames("-")
        self.layout = TarLayout.build((), ())
        self._out = out
        self._writer = TarWriter(self.layout, PipeOutput(out))
        self._present: set[Digest] = set()
        # Each blob's spool file, or None once the stream broke and will never take it.
        self._spooled: dict[Digest, asyncio.Future[Path | None]] = {}
        self._broken: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Lay the tar out, have the budget follow its blob order, start the writer task."""
        self.layout = TarLayout.build(blobs, ((m.digest, m.raw) for m in manifests))
        self._writer = TarWriter(self.layout, PipeOutput(self._out))
        loop = asyncio.get_running_loop()
        self._spooled = {digest: loop.create_future() for digest in self.layout.blobs}
        self.budget.follow([(digest, m.size) for digest, m in self.layout.blobs.items()])
        self._task = asyncio.ensure_future(self._append())

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True once the blob is in the stream or on its way there."""
        return desc.digest in self._present

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests go in at the end, all at once: none is there before."""
        return False

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Spool the verified bytes and hand them to the writer: never wait on it."""
        if desc.digest in self._present:
            return
        member = self.layout.blobs.get(desc.digest)
        if member is None or member.size != desc.size:
            raise RelocatorError(f"{desc.digest}: not in the planned tar layout")
        if self._broken is not None:
            raise RelocatorError(f"{desc.digest}: not written: {self._broken}")
        self._present.add(desc.digest)
        try:
            spooled = await self.spool.fill(opener(0))
        except BaseException:
            self._present.discard(desc.digest)
            await self._break(f"the tar stream stopped at {desc.digest}, which failed")
            raise
        handover = self._spooled[desc.digest]
        if handover.done():  # the stream broke meanwhile: the writer will not take it
            await asyncio.to_thread(spooled.unlink, missing_ok=True)
            raise RelocatorError(f"{desc.digest}: not written: {self._broken}")
        handover.set_result(spooled)

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Nothing to do yet: the planned manifests are written by ``close``."""
        if manifest.digest.blob_path not in self.layout.inline and manifest.digest not in self.layout.blobs:
            raise RelocatorError(f"{manifest.digest}: not in the planned tar layout")

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Record the image's name for ``index.json``."""
        self.names.add(ref, manifest)

    async def close(self, success: bool) -> None:
        """Let the writer finish the blobs and, if every image made it, end the tar with the
        manifests and ``index.json``; otherwise stop it at the next member."""
        if self._task is None:
            return
        try:
            if not success:
                await self._break("the run failed")
            try:
                await self._task
            except RelocatorError:
                if success:
                    raise
            if success:
                await asyncio.to_thread(self._finish)
        finally:
            for handover in self._spooled.values():
                left = handover.result() if handover.done() else None
                if left is not None:
                    await asyncio.to_thread(left.unlink, missing_ok=True)
            self.spool.remove()

    def _finish(self) -> None:
        self._writer.finish(self.names.index())
        try:
            self._out.flush()
        except OSError as exc:
            raise RelocatorError(f"cannot write the tar stream ({exc.strerror})") from None

    async def _append(self) -> None:
        """The writer: ``oci-layout``, then each blob in layout order once it is spooled."""
        try:
            self._writer.put(self.layout.members[0])
            for digest, member in self.layout.blobs.items():
                spooled = await self._spooled[digest]
                if spooled is None or self._broken is not None:
                    return
                try:
                    await asyncio.to_thread(self._writer.append, member, spooled)
                finally:
                    await asyncio.to_thread(spooled.unlink, missing_ok=True)
                await self.budget.passed(digest)
        except BaseException as exc:  # whatever stopped the writer must not leave blobs waiting on it
            why = str(exc) if isinstance(exc, RelocatorError) else f"the tar writer stopped: {exc!r}"
            await self._break(why)
            raise

    async def _break(self, why: str) -> None:
        """Nothing more can be appended: wake the writer, free the budget's order, fail later writes."""
        if self._broken is None:
            self._broken = why
        for handover in self._spooled.values():
            if not handover.done():
                handover.set_result(None)
        await self.budget.unfollow()
