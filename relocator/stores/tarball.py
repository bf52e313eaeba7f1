"""TarballFile (``pkg -o FILE``): an OCI-layout tar with every blob's place fixed before the first byte.

``prepare`` gets every blob's size and every manifest's bytes, so the tar is laid out up front
(``tarwriter.TarLayout``, the same layout ``pkg -o -`` streams). Each download writes straight into
its own span of ``NAME.partial`` (no spool, no second copy), and a blob's header goes in only once
its bytes are verified, so a header marks a finished member. ``index.json`` (built from the tag
writes the run makes), the manifests and the end-of-archive blocks follow at ``close``. The file is
the same for the same images at any concurrency; a resumed run keeps every span whose header and
digest check out and fetches the rest.

A blob cut off mid-way is not fetched again from its start: the journal beside the partial file
(``stores.journal``) counts each blob's bytes as they are written, and a resumed run re-hashes that
prefix from the file and asks the source for the rest only (``opener(offset)``: a registry is sent
``Range: bytes=N-``). The sink checks the whole blob's digest itself, since a source verifies only
what it streams from 0; a resumed blob that fails the check (a prefix a power cut lost) is
fetched once more from its first byte.

When some images did not finish, ``close`` copies what the others need into the tar laid out for
them alone (``TarLayout.keeping``: no holes, which a tar reader would take for the end) and
renames that into place; the partial file goes, since its layout is the whole plan's.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator, Sequence, Set
from pathlib import Path

from relocator.errors import InputError, IntegrityError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.digest import AsyncVerifier
from relocator.oci.layout import IndexNames
from relocator.stores.base import Opener
from relocator.stores.files import fsync_dir, hash_range, hasher_of_range
from relocator.stores.journal import Journal
from relocator.stores.naming import NamesInIndex
from relocator.stores.tarwriter import FileOutput, Member, TarLayout, TarWriter, padding, tar_header

__all__ = ["Member", "TarLayout", "TarballFile", "padding", "tar_header"]


class TarballFile(NamesInIndex):
    """A BlobSink that writes each blob into its planned span of ``NAME.partial``.

    ``name``, when given, is the one ``org.opencontainers.image.ref.name`` for every image
    (``oci-archive:FILE:NAME``); otherwise each tag write names its image by its full reference.
    It ``Commits`` (to ``location``) and ``Abandons``.
    """

    _writer: TarWriter  # from prepare on

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        self.location = str(path)
        self.partial = path.with_name(path.name + ".partial")
        self.layout = TarLayout.build((), ())
        self.names = IndexNames(str(path), name)
        self.resumed: set[Digest] = set()
        self.prefixes: dict[Digest, int] = {}  # a blob cut off by an earlier run: its bytes in the file
        self._journal: Journal | None = None
        self._present: set[Digest] = set()
        self._dropped: set[Digest] = set()  # abandoned: no image that can finish needs them
        self._failed: dict[Digest, Exception] = {}  # a failed blob stays failed (Abandons)
        self._fd = -1
        self._out: FileOutput | None = None
        self._kept = False  # a verified blob is in the partial file: worth keeping for a resume
        self.kept: Path | None = None  # the partial file, once a failed run closed and kept it

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Lay the tar out, open and lock the partial file, keep the verified spans of an earlier
        run, check space. Raises InputError if the file cannot be written or another run holds it."""
        self.layout = TarLayout.build(blobs, ((m.digest, m.raw) for m in manifests))
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask
        except OSError as exc:
            raise InputError(f"{self.partial}: cannot write ({exc.strerror})") from None
        try:
            # A nightly job that overran must not share its file with the next night's run.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._close_fd()
            raise InputError(f"{self.partial}: another relocator pkg is writing it") from None
        try:
            same = os.fstat(self._fd).st_size == self.layout.size
            if same:
                self.resumed = await asyncio.to_thread(_verified_spans, self._fd, self.layout)
            else:
                os.ftruncate(self._fd, 0)
            self._journal = Journal(self.partial.with_name(self.partial.name + ".journal"), self.layout,
                                    fresh=not same)
            self.prefixes = {d: n for d, n in self._journal.counted().items() if d not in self.resumed}
            _check_space(self._fd, self.layout, self.resumed, self.partial)
            # Sparse until written: a member without its header is one still to fetch.
            os.ftruncate(self._fd, self.layout.size)
        except (OSError, InputError) as exc:
            if not self.resumed and not self.prefixes:
                self.partial.unlink(missing_ok=True)  # nothing worth keeping: leave nothing behind
                if self._journal is not None:
                    self._journal.remove()
            self._close_fd()
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{self.partial}: cannot write ({exc.strerror})") from None
        self._present |= self.resumed
        self._kept = bool(self.resumed or self.prefixes)
        self._out = FileOutput(self._fd, self.partial)
        self._writer = TarWriter(self.layout, self._out)

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True once the blob is in the file or on its way there, or no longer needed."""
        digest = desc.digest
        return digest in self._present or (digest in self._dropped and digest not in self._failed)

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests go in at the end, all at once: none is there before."""
        return False

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Stream verified bytes into the blob's span; its header last, as the mark of a whole member.
        Raises the first attempt's error again for a blob that failed before."""
        digest = desc.digest
        if digest in self._failed:
            raise RelocatorError(f"{digest}: not written: it failed before: {self._failed[digest]}")
        if digest in self._present or digest in self._dropped:
            return
        member = self.layout.blobs.get(digest)
        if member is None or member.size != desc.size:
            raise RelocatorError(f"{digest}: not in the planned tar layout")
        self._present.add(digest)
        try:
            await self._fill(desc, opener)
        except BaseException as exc:
            self._present.discard(digest)
            if isinstance(exc, Exception):
                self._failed[digest] = exc
            if isinstance(exc, IntegrityError):
                self._count(digest, 0)  # bytes of the wrong blob: nothing to resume from
            raise
        self._kept = True

    async def _fill(self, desc: Descriptor, opener: Opener) -> None:
        """Resume from the journal's count when there is one, else stream the blob from 0."""
        member = self.layout.blobs[desc.digest]
        start = self.prefixes.pop(desc.digest, 0)
        if start:
            try:
                await self._writer.fill(member, self._resumed(desc, opener, start), start=start,
                                        written=lambda n: self._count(desc.digest, n))
                return
            except IntegrityError:
                pass  # the prefix on disk is not the one counted (or the source changed): start over
        await self._writer.fill(member, opener(0), written=lambda n: self._count(desc.digest, n))

    async def _resumed(self, desc: Descriptor, opener: Opener, start: int) -> AsyncIterator[bytes]:
        """The blob's bytes from ``start``, checked with the prefix in the file against its digest
        (a source verifies only what it streams from 0)."""
        member = self.layout.blobs[desc.digest]
        hasher = await asyncio.to_thread(hasher_of_range, self._fd, member.data_offset, start,
                                         desc.digest.algorithm)
        if hasher is None:
            raise RelocatorError(f"{self.partial}: ends inside {desc.digest}")
        verifier = AsyncVerifier(desc.digest, desc.size, threaded=True, prefix=(hasher, start))
        if start < desc.size:
            async for chunk in opener(start):
                await verifier.feed(chunk)  # raises before the chunk that completes a wrong blob
                yield chunk
        await verifier.finish()

    def _count(self, digest: Digest, n: int) -> None:
        """Journal ``n`` bytes of ``digest`` in the file; any is worth keeping for a resume."""
        if self._journal is not None:
            self._journal.record(digest, n)
        self._kept = self._kept or n > 0

    def abandon(self, digests: Set[Digest]) -> None:
        """Fetch none of ``digests`` from now on; ``close`` leaves out what no finished image needs."""
        self._dropped |= digests

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Nothing to do yet: the planned manifests are written by ``close``."""
        if manifest.digest.blob_path not in self.layout.inline and manifest.digest not in self.layout.blobs:
            raise RelocatorError(f"{manifest.digest}: not in the planned tar layout")

    async def close(self, keep: Set[Digest] | None) -> None:
        """Write the small members, flush and rename: the whole plan in place, or ``keep`` alone
        copied into its own layout. With None (or if the commit fails) keep the partial file to
        resume. Raises RelocatorError naming the file if it cannot be written."""
        if self._fd < 0 or self._out is None:
            return
        try:
            await self._out.drain()
            if keep is None:
                if not self._kept:
                    self.partial.unlink(missing_ok=True)  # nothing a resume could use
                    self._drop_journal()
                else:
                    self.kept = self.partial
                return
            lost = [d for d in self.layout.blobs if d in keep and d not in self._present]
            if lost:  # the engine keeps only what finished images needed: a bug, never a bad tar
                raise RelocatorError(f"{self.path}: not written: {lost[0]} is missing")
            if self.layout.within(keep):
                await self._commit_in_place(keep)
            else:
                await self._commit_copy(self.layout.keeping(keep), keep)
        finally:
            self._close_fd()

    async def _commit_in_place(self, keep: Set[Digest]) -> None:
        """Every planned member made it: end the partial file and rename it into place."""
        size = self._writer.finish(self.names.index(keep))
        os.ftruncate(self._fd, size)
        await asyncio.to_thread(os.fsync, self._fd)
        self._drop_journal()  # first: killed before the rename, every blob still has its header
        os.replace(self.partial, self.path)
        await asyncio.to_thread(fsync_dir, self.path.parent)

    async def _commit_copy(self, kept: TarLayout, keep: Set[Digest]) -> None:
        """Copy the kept members into a new file laid out for them alone, rename it into place,
        drop the partial file. A member at a time in a thread, so an interrupt stops it unrenamed."""
        temp = self.partial.with_name(self.partial.name + ".kept")
        try:
            fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise RelocatorError(f"{temp}: cannot write ({exc.strerror})") from None
        try:
            writer = TarWriter(kept, FileOutput(fd, temp))
            writer.put(kept.members[0])
            for digest, member in kept.blobs.items():
                await asyncio.to_thread(writer.append, member, self.partial,
                                        self.layout.blobs[digest].data_offset)
            writer.finish(self.names.index(keep))
            await asyncio.to_thread(os.fsync, fd)
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        self._drop_journal()
        self.partial.unlink(missing_ok=True)
        await asyncio.to_thread(fsync_dir, self.path.parent)

    def _drop_journal(self) -> None:
        if self._journal is not None:
            self._journal.remove()
            self._journal = None

    def _close_fd(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _check_space(fd: int, layout: TarLayout, resumed: set[Digest], path: Path) -> None:
    """Refuse to start a tar that cannot fit: a cron job learns it now, not at 90%."""
    have = sum(layout.blobs[d].end - layout.blobs[d].offset for d in resumed)
    need = layout.size - have
    stat = os.fstatvfs(fd)
    free = stat.f_bavail * stat.f_frsize
    if need > free:
        raise InputError(f"{path}: needs {need / 1e6:.1f} MB more, {free / 1e6:.1f} MB free there")


def _verified_spans(fd: int, layout: TarLayout) -> set[Digest]:
    """The blobs of an earlier partial file with their header, their digest and zero padding."""
    kept: set[Digest] = set()
    for digest, member in layout.blobs.items():
        if os.pread(fd, len(member.header), member.offset) != member.header:
            continue
        tail = padding(member.size)
        end = member.data_offset + member.size
        if (hash_range(fd, member.data_offset, member.size, digest.algorithm) == digest.hex
                and os.pread(fd, len(tail), end) == tail):
            kept.add(digest)
    return kept
