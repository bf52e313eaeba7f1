"""The bytes of an archive's members, by digest: whole when small, else streamed by offset.

``stores.archive`` finds where each blob's bytes are (a ``Member``); ``MemberReader`` reads them:
from the archive file it holds open, from a layout directory's files, or from memory (a
rebuilt or inline manifest). A stream from offset 0 is verified as it passes, and a mismatch is
the user's file at fault: BadArchive naming the archive and the member. What the members mean
(the named images, their manifests' media types, referrers) is ``stores.layout_source``'s.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Self

from relocator.errors import BadArchive, DigestMismatch, InputError, IntegrityError, RelocatorError
from relocator.oci import Descriptor, Digest, Repository, verify_stream
from relocator.stores.archive import Member, read_range
from relocator.stores.base import Opener

__all__ = ["MAX_MANIFEST", "MemberReader"]

_READ = 1 << 20  # bytes per read of a streamed member
MAX_MANIFEST = 16 << 20  # bytes: larger is not read whole (a manifest, an index entry)


class MemberReader:
    """Reads the members of the archive ``where`` (the path as given, for errors) by digest.

    ``fd`` is the open archive the members without a ``path`` lie in (None for a directory),
    owned from now on: ``close()`` it, use the reader as a context manager, or it is closed when
    the reader is collected.
    """

    def __init__(self, where: str, members: Mapping[Digest, Member], fd: int | None = None) -> None:
        self.where = where
        self._members = dict(members)
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd) if fd is not None else None

    def close(self) -> None:
        """Let go of the archive (and so of a decompressed temp file); safe to call twice."""
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def digests(self) -> set[Digest]:
        """Every blob and manifest in the archive."""
        return set(self._members)

    def member(self, digest: Digest, size: int | None = None) -> Member:
        """Where a digest's bytes are. Raises BadArchive naming this archive when it lacks the
        digest or its member's size disagrees with the descriptor's ``size``."""
        found = self._members.get(digest)
        if found is None:
            raise BadArchive(f"{self.where}: {digest} is not in the archive")
        if size is not None and found.size != size:
            raise BadArchive(f"{self.where}: member {found.name} has {found.size} bytes, "
                             f"its descriptor says {size}")
        return found

    def _whole(self, m: Member) -> bytes:
        """A small member's bytes, read in the calling thread."""
        if m.data is not None:
            return m.data
        if m.path is not None:
            with open(m.path, "rb") as f:
                return f.read(m.size + 1)  # one byte more shows a file that grew since the scan
        assert self._fd is not None
        return read_range(self._fd, m.offset, m.size, self.where, m.name)

    def _read_now(self, digest: Digest) -> bytes | None:
        """A small member's bytes, read now (blocking: ``open_layout`` runs in a thread); None when
        it is missing, too big, unreadable or does not hash to ``digest``."""
        m = self._members.get(digest)
        if m is None or m.size > MAX_MANIFEST or (m.data is None and m.path is None and self._fd is None):
            return None
        try:
            raw = self._whole(m)
        except (OSError, RelocatorError):
            return None
        return raw if len(raw) == m.size and Digest.of(raw, digest.algorithm) == digest else None

    async def read_small(self, digest: Digest) -> bytes:
        """A whole member that is small enough to hold (manifests, index entries); BadArchive
        when it does not hash to ``digest``."""
        m = self.member(digest)
        if m.size > MAX_MANIFEST:
            raise BadArchive(f"{self.where}: manifest {digest} is larger than {MAX_MANIFEST} bytes")
        raw = b"".join([c async for c in self._chunks(m, 0)])
        got = Digest.of(raw, digest.algorithm)
        if got != digest:
            raise BadArchive(f"{self.where}: member {m.name} does not match its digest {digest} "
                             f"(its content hashes to {got})")
        return raw

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob, read by offset."""

        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            yield self.blob_opener(repo, desc)(0)

        return ctx()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """Streams from an offset; from 0 the digest and size are verified as they pass, and a
        mismatch names this archive and the member. ``repo`` is not looked at: an archive holds
        one set of blobs, whichever repository names them."""
        member = self.member(desc.digest, desc.size)

        def opener(offset: int) -> AsyncIterator[bytes]:
            chunks = self._chunks(member, offset)
            if offset:
                return chunks
            return self._named(verify_stream(chunks, desc.digest, desc.size), member)

        return opener

    async def _named(self, chunks: AsyncIterator[bytes], member: Member) -> AsyncIterator[bytes]:
        """The user's file is at fault, not the transfer: BadArchive naming archive and member."""
        try:
            async for chunk in chunks:
                yield chunk
        except IntegrityError as exc:
            what = "content does not match its digest" if isinstance(exc, DigestMismatch) else (
                "size does not match its descriptor")
            raise BadArchive(f"{self.where}: member {member.name}: {what} ({exc})") from None

    async def _chunks(self, m: Member, offset: int) -> AsyncIterator[bytes]:
        if m.data is not None:
            if offset < m.size:
                yield m.data[offset:]
            return
        fd = self._fd if m.path is None else await asyncio.to_thread(os.open, m.path, os.O_RDONLY)
        if fd is None:
            raise InputError(f"{self.where}: member {m.name} has no file to be read from")
        try:
            position, end = m.offset + offset, m.offset + m.size
            while position < end:
                chunk = await asyncio.to_thread(os.pread, fd, min(_READ, end - position), position)
                if not chunk:
                    raise InputError(f"{self.where}: file ends inside member {m.name}")
                position += len(chunk)
                yield chunk
        finally:
            if m.path is not None:
                os.close(fd)
