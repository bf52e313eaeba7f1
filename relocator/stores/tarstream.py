"""TarballStream: ``pkg -o -``, the same tar as ``pkg -o FILE``, appended where nothing can seek.

The layout is ``TarballFile``'s (``tarwriter.TarLayout``) and so is the writer: one task appends
the members in layout order through ``TarWriter``, so for the same images ``-o -`` and ``-o FILE``
give the same bytes. Every download finishes into the on-disk spool first, so no unverified byte
reaches the pipe (which could not take it back) and no download waits on the writer; a blob that
finishes before its turn waits there.

When an image is lost (a blob of it failed), the engine ``abandon``s what no image that can still
finish needs, all at once. The writer skips those members (a spooled one is thrown away) and
appends each member it keeps where the last one ended, and the tail lists the finished images
only: with the same members kept, the bytes are ``pkg -o FILE``'s. A blob appended before its
images were lost cannot be taken back: it stays in the tar as a blob nothing refers to (the file
leaves it out). A blob that failed is abandoned with its images, never by its own failed write, so
the writer moves past it only once every member lost with it is known.

Why this cannot deadlock. The writer waits for its next member; every member it has not taken
yet holds room in the run's one byte budget, while it streams and while it waits in the spool.
``prepare`` has the budget follow the layout: a blob may start only inside the window of members
counted from the writer's next one whose sizes fit the limit, and that next one is always in it.
- The writer's next member is never refused room: everything before it has left the budget, and
  whatever holds room lies in the window with it. Spool plus downloads stay within the limit. A
  skipped member leaves the window only once its download, if one had started, has settled.
- A blob outside the window waits for room holding its host slot. It cannot hold the slot the
  writer's next member needs: the scheduler queues a host's blobs on its slots in transfer order
  (largest first, then by digest, as laid out here) and serves them first come, first served.
- The next member always comes or is skipped: its download ends in the spool, or fails and then
  the engine abandons it (every image needing it is lost); one abandoned before it started never
  starts (``has_blob``), and ``close`` settles whatever is left.
A write that cannot reach the stream (the reader went away), or a run that commits nothing,
breaks the stream: pending waits resolve, the budget stops following, and later writes fail at
once instead of downloading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence, Set
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import IndexNames
from relocator.stores.base import Opener
from relocator.stores.budget import ByteBudget
from relocator.stores.naming import NamesInIndex
from relocator.stores.spool import Spool
from relocator.stores.tarwriter import PipeOutput, TarLayout, TarWriter

__all__ = ["TarballStream"]


class TarballStream(NamesInIndex):
    """A BlobSink writing one OCI-layout tar to a stream; downloads spool, one task appends.

    ``budget`` is the run's byte budget: the scheduler shares it (``SharesBudget``), and a blob
    keeps its room until the writer has appended it. It ``Commits`` (to ``-``) and ``Abandons``.
    """

    location = "-"

    def __init__(self, out: BinaryIO, spool: Spool, budget: ByteBudget) -> None:
        self.spool = spool
        self.budget = budget
        self.names = IndexNames("-")
        self.layout = TarLayout.build((), ())
        self._out = out
        self._writer = TarWriter(self.layout, PipeOutput(out))
        self._present: set[Digest] = set()  # spooled or on its way
        self._dropped: set[Digest] = set()  # abandoned: the writer skips them
        self._failed: dict[Digest, Exception] = {}  # a failed blob stays failed (Abandons)
        # Each blob's spool file, or None once the writer will never take it.
        self._spooled: dict[Digest, asyncio.Future[Path | None]] = {}
        self._appended: list[tuple[Digest, int]] = []  # (digest, size) of each blob in the stream
        self._end = 0  # where the next member goes
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
        """True once the blob is in the stream or on its way there, or no longer needed."""
        digest = desc.digest
        return digest in self._present or (digest in self._dropped and digest not in self._failed)

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests go in at the end, all at once: none is there before."""
        return False

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Spool the verified bytes and hand them to the writer: never wait on it. Raises the first
        attempt's error again for a blob that failed before."""
        digest = desc.digest
        if digest in self._failed:
            raise RelocatorError(f"{digest}: not written: it failed before: {self._failed[digest]}")
        if digest in self._present or digest in self._dropped:
            return
        member = self.layout.blobs.get(digest)
        if member is None or member.size != desc.size:
            raise RelocatorError(f"{digest}: not in the planned tar layout")
        if self._broken is not None:
            raise RelocatorError(f"{digest}: not written: {self._broken}")
        self._present.add(digest)
        handover = self._spooled[digest]
        try:
            spooled = await self.spool.fill(opener(0))
        except BaseException as exc:
            self._present.discard(digest)
            if isinstance(exc, Exception):
                self._failed[digest] = exc
            # A failure waits for the engine to abandon the blob with its lost images, so the
            # writer skips them together; one abandoned already, or cancelled, is settled here.
            if (digest in self._dropped or not isinstance(exc, Exception)) and not handover.done():
                handover.set_result(None)
            raise
        if handover.done():  # the stream broke meanwhile: the writer will not take it
            await asyncio.to_thread(spooled.unlink, missing_ok=True)
            raise RelocatorError(f"{digest}: not written: {self._broken}")
        handover.set_result(spooled)

    def abandon(self, digests: Set[Digest]) -> None:
        """The writer skips ``digests``: at once for one not on its way, else once it has settled."""
        for digest in digests:
            handover = self._spooled.get(digest)
            if handover is None:
                continue  # a manifest: the tail lists only what ``close`` keeps
            self._dropped.add(digest)
            if digest not in self._present and not handover.done():
                handover.set_result(None)

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Nothing to do yet: the planned manifests are written by ``close``."""
        if manifest.digest.blob_path not in self.layout.inline and manifest.digest not in self.layout.blobs:
            raise RelocatorError(f"{manifest.digest}: not in the planned tar layout")

    async def close(self, keep: Set[Digest] | None) -> None:
        """Let the writer finish the blobs in ``keep``, skipping the rest, and end the tar with
        their manifests and ``index.json``; with None stop it at the next member (the stream is
        cut short). Raises RelocatorError if the tar cannot be finished."""
        if self._task is None:
            return
        try:
            if keep is None:
                await self._break("the run failed")
            else:
                # Every download has settled: what is not kept will never be appended.
                self.abandon({d for d in self.layout.blobs if d not in keep})
                lost = [d for d in self.layout.blobs if d in keep and not self._coming(d)]
                if lost:  # the engine keeps only what finished images needed: a bug, never a bad tar
                    await self._break(f"{lost[0]} is missing")
            try:
                await self._task
            except RelocatorError:
                if keep is not None:
                    raise
            if keep is not None:
                if self._broken is not None:
                    raise RelocatorError(f"the tar stream is cut short: {self._broken}")
                await asyncio.to_thread(self._finish, keep)
        finally:
            for handover in self._spooled.values():
                left = handover.result() if handover.done() else None
                if left is not None:
                    await asyncio.to_thread(left.unlink, missing_ok=True)
            self.spool.remove()

    def _coming(self, digest: Digest) -> bool:
        """Whether the writer will append ``digest``, once every download has settled."""
        handover = self._spooled[digest]
        return handover.done() and handover.result() is not None and digest not in self._dropped

    def _finish(self, keep: Set[Digest]) -> None:
        """The kept manifests and ``index.json`` after the last blob appended."""
        if not self.layout.within(keep) or len(self._appended) != len(self.layout.blobs):
            manifests = ((d, raw) for d, raw in self.layout.manifests.items() if d in keep)
            self._writer.relayout(TarLayout.of(self._appended, manifests))
        self._writer.finish(self.names.index(keep))
        try:
            self._out.flush()
        except OSError as exc:
            raise RelocatorError(f"cannot write the tar stream ({exc.strerror})") from None

    async def _append(self) -> None:
        """The writer: ``oci-layout``, then each blob in layout order once it is spooled, each
        where the last one ended; an abandoned one is skipped once it has settled."""
        try:
            first = self.layout.members[0]
            self._writer.put(first)
            self._end = first.end
            for digest, planned in self.layout.blobs.items():
                spooled = await self._spooled[digest]
                if self._broken is not None:
                    return
                if spooled is not None and digest not in self._dropped:
                    member = replace(planned, offset=self._end)  # the planned place, less what was skipped
                    try:
                        await asyncio.to_thread(self._writer.append, member, spooled)
                    finally:
                        await asyncio.to_thread(spooled.unlink, missing_ok=True)
                    self._appended.append((digest, member.size))
                    self._end = member.end
                elif spooled is not None:
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
