"""Placing one blob in the sink: skipped when it is there, mounted when it can be, else streamed.

The scheduler (engine.scheduler) decides when a blob goes (slots, order, single flight); this
module decides how: the sink is asked first, a registry sink may mount it from a repository of
the same host, and only then do bytes move, from the source straight into the sink, within the
run's one byte budget (stores.budget), each chunk counted for the reporter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from relocator.engine.events import Outcome, Reporter
from relocator.engine.ordering import mount_origins
from relocator.engine.plan import Node
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Repository
from relocator.stores.base import BlobSink, BlobSource, Mounter, Opener, close_stream
from relocator.stores.budget import ByteBudget

__all__ = ["BlobPlacer"]


class BlobPlacer:
    """Puts blobs of ``source`` into ``sink``; ``budget`` bounds the bytes streaming at once."""

    def __init__(self, source: BlobSource, sink: BlobSink, budget: ByteBudget, reporter: Reporter) -> None:
        self.source = source
        self.sink = sink
        self.budget = budget
        self.reporter = reporter

    async def place(self, repo: Repository, node: Node, primary: Repository) -> tuple[Outcome, int]:
        """Put ``node``'s blob in ``repo`` of the sink: SKIPPED (already there), MOUNTED (from
        ``primary`` or another origin on the same registry, engine.ordering.mount_origins) or
        TRANSFERRED (streamed from the first of ``node.origins``, sorted); with the bytes that
        moved for it: the blob's size less what the sink already held (a resumed upload or tar
        member asks the source from an offset), 0 when skipped or mounted. Raises what the sink
        raises, or, when the source failed the read, the source's error, its message starting
        with "source " (same type, status and ``temporary``)."""
        desc = node.descriptor
        # 1. What is there already is skipped, so a re-run moves no bytes.
        if await self.sink.has_blob(repo, desc):
            return Outcome.SKIPPED, 0
        # 2. Mount from a repository of the same registry known to hold it.
        if isinstance(self.sink, Mounter):
            for origin in mount_origins(repo, node, primary):
                if await self.sink.mount_blob(repo, desc, origin):
                    return Outcome.MOUNTED, 0
        # 3. Stream from a source repository straight into the sink, within the byte budget.
        source = sorted(node.origins)[0]
        failed: list[RelocatorError] = []
        held: list[int] = []  # the offset of the first read: what the sink held already
        await self.budget.acquire(desc.size, desc.digest)
        try:
            await self.sink.write_blob(repo, desc, self._reading(source, desc, failed, held))
        except RelocatorError:
            if failed:
                # However the sink saw it (an upload cut short, a write that stopped), the cause
                # is the source: say so, in the source's own words.
                raise _from_source(failed[-1]) from None
            raise
        finally:
            await self.budget.release(desc.size)
        return Outcome.TRANSFERRED, desc.size - (held[0] if held else 0)

    def _reading(self, origin: Repository, desc: Descriptor, failed: list[RelocatorError],
                 held: list[int]) -> Opener:
        """The source's stream of the blob, counted. An error the source raises is kept in
        ``failed``; each reopening (a retry) starts it afresh, so it holds the last read's only.
        The first read's offset is put in ``held``."""
        source, reporter = self.source, self.reporter

        async def reading(offset: int) -> AsyncIterator[bytes]:
            if not held:
                held.append(offset)
            failed.clear()
            chunks: AsyncIterator[bytes] | None = None
            try:
                chunks = source.blob_opener(origin, desc)(offset)  # an archive's may refuse here
                async for chunk in chunks:
                    reporter.bytes_moved(len(chunk))
                    yield chunk
            except RelocatorError as exc:
                failed.append(exc)
                raise
            finally:
                if chunks is not None:  # closed with this stream, not by the garbage collector
                    await close_stream(chunks)

        return reading


def _from_source(exc: RelocatorError) -> RelocatorError:
    """``exc`` (same type, status and ``temporary``), its message saying it came from the source."""
    if not str(exc).startswith("source "):
        exc.args = (f"source {exc}",)
    return exc
