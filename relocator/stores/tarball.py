"""TarballFile: an OCI-layout tar whose every blob has its place fixed before the first byte.

``prepare`` gets every blob's size and every manifest's bytes, so the tar is laid out up front:
``oci-layout``, the blobs largest first, the manifests by digest; ``index.json`` (built from the
tag writes the run makes) and the end-of-archive blocks follow at ``close``. Each download writes
straight into its own span of ``NAME.partial`` (no spool, no second copy), and a blob's header goes
in only once its bytes are verified, so a header marks a finished member. The file is the same for
the same images at any concurrency; a resumed run keeps every span whose header and digest check
out and fetches the rest. ``-o -`` cannot seek: see ``tarstream``.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from relocator.errors import InputError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import INDEX_JSON, LAYOUT_FILE, OCI_LAYOUT, IndexNames
from relocator.stores.base import Opener
from relocator.stores.files import fsync_dir, hash_range

__all__ = ["Member", "TarLayout", "TarballFile", "padding", "tar_header"]

BLOCK = 512
_END = b"\0" * BLOCK * 2
_WRITEBACK = 64 << 20


def tar_header(name: str, size: int) -> bytes:
    """A deterministic header: mode 0644, owner 0, mtime 0; PAX records only where needed."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.PAX_FORMAT)


def padding(size: int) -> bytes:
    """The zeros that round a member's data up to a whole block."""
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True, slots=True)
class Member:
    """One tar member's place: header at ``offset``, then ``size`` bytes, then padding."""

    name: str
    offset: int
    size: int
    header: bytes

    @property
    def data_offset(self) -> int:
        return self.offset + len(self.header)

    @property
    def end(self) -> int:
        return self.data_offset + self.size + (-self.size % BLOCK)


@dataclass(frozen=True, slots=True)
class TarLayout:
    """Every member's place in the finished tar, and the tar's size."""

    members: tuple[Member, ...]
    blobs: dict[Digest, Member]
    inline: dict[str, bytes]  # oci-layout and the manifests: written whole at close
    size: int  # where index.json goes: everything before it is planned

    @classmethod
    def build(cls, blobs: Iterable[Descriptor], manifests: Iterable[tuple[Digest, bytes]]) -> TarLayout:
        """Lay out the blobs (largest first, then by digest), then the manifests by digest."""
        unique = {d.digest: d for d in blobs}
        order = sorted(unique.values(), key=lambda d: (-d.size, str(d.digest)))
        inline = {LAYOUT_FILE: OCI_LAYOUT}
        for digest, raw in sorted(manifests, key=lambda m: str(m[0])):
            inline.setdefault(digest.blob_path, raw)
        members: list[Member] = []
        offset = 0
        sized = [(LAYOUT_FILE, len(OCI_LAYOUT)), *((d.digest.blob_path, d.size) for d in order),
                 *((name, len(raw)) for name, raw in inline.items() if name != LAYOUT_FILE)]
        for name, size in sized:
            member = Member(name, offset, size, tar_header(name, size))
            members.append(member)
            offset = member.end
        by_name = {m.name: m for m in members}
        return cls(tuple(members), {d.digest: by_name[d.digest.blob_path] for d in order}, inline,
                   offset)

    def tail(self, index: bytes) -> bytes:
        """``index.json`` and the end-of-archive blocks, written at ``size``."""
        return tar_header(INDEX_JSON, len(index)) + index + padding(len(index)) + _END


class TarballFile:
    """A BlobSink that writes each blob into its planned span of ``NAME.partial``.

    ``name``, when given, is the one ``org.opencontainers.image.ref.name`` for every image
    (``oci-archive:FILE:NAME``); otherwise each tag write names its image by its full reference.
    """

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.layout = TarLayout.build((), ())
        self.names = IndexNames(str(path), name)
        self.resumed: set[Digest] = set()
        self._present: set[Digest] = set()
        self._fd = -1
        self._writeback: list[asyncio.Future[None]] = []
        self._kept = False  # a verified blob is in the partial file: worth keeping for a resume

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Lay the tar out, open and lock the partial file, keep the verified spans of an earlier
        run, check space. Raises InputError if the file cannot be written or another run holds it."""
        self.layout = TarLayout.build(blobs, ((m.digest, m.raw) for m in manifests))
        try:
            self.partial.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.partial, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"{self.partial}: cannot write ({exc.strerror})") from None
        try:
            # A nightly job that overran must not share its file with the next night's run.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._close_fd()
            raise InputError(f"{self.partial}: another relocator pkg is writing it") from None
        try:
            if os.fstat(self._fd).st_size == self.layout.size:
                self.resumed = await asyncio.to_thread(_verified_spans, self._fd, self.layout)
            else:
                os.ftruncate(self._fd, 0)
            _check_space(self._fd, self.layout, self.resumed, self.partial)
            # Sparse until written: a member without its header is one still to fetch.
            os.ftruncate(self._fd, self.layout.size)
        except (OSError, InputError) as exc:
            if not self.resumed:
                self.partial.unlink(missing_ok=True)  # nothing worth keeping: leave nothing behind
            self._close_fd()
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{self.partial}: cannot write ({exc.strerror})") from None
        self._present |= self.resumed
        self._kept = bool(self.resumed)

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True once the blob is in the file or on its way there."""
        return desc.digest in self._present

    async def has_manifest(self, ref: Reference) -> bool:
        """Manifests go in at the end, all at once: none is there before."""
        return False

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Stream verified bytes into the blob's span; its header last, as the mark of a whole member."""
        if desc.digest in self._present:
            return
        member = self.layout.blobs.get(desc.digest)
        if member is None or member.size != desc.size:
            raise RelocatorError(f"{desc.digest}: not in the planned tar layout")
        self._present.add(desc.digest)
        try:
            position = flushed = member.data_offset
            # Page-cache writes are cheap: on the event loop they beat a thread hop per chunk.
            async for chunk in opener(0):
                if position + len(chunk) > member.data_offset + member.size:
                    raise RelocatorError(f"{desc.digest}: more bytes than its {member.size}")
                position += _pwrite(self._fd, chunk, position, self.partial)
                if position - flushed >= _WRITEBACK:
                    self._start_writeback(flushed, position)
                    flushed = position
            _pwrite(self._fd, padding(member.size), position, self.partial)
            _pwrite(self._fd, member.header, member.offset, self.partial)
            self._kept = True
            self._start_writeback(member.offset, member.offset + len(member.header))
            self._start_writeback(flushed, member.end)
        except BaseException:
            self._present.discard(desc.digest)
            raise

    def _start_writeback(self, start: int, end: int) -> None:
        # Linux starts writeback of a dirty range it is asked to drop. Doing that as spans fill,
        # off the loop, leaves the final fsync little to wait for (a lone 2 GiB layer: 3.8 s, not 4.2).
        self._writeback.append(asyncio.ensure_future(asyncio.to_thread(
            os.posix_fadvise, self._fd, start, end - start, os.POSIX_FADV_DONTNEED)))

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Nothing to do yet: the planned manifests are written by ``close``."""
        if manifest.digest.blob_path not in self.layout.inline:
            raise RelocatorError(f"{manifest.digest}: not in the planned tar layout")

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Record the image's name for ``index.json``."""
        self.names.add(ref, manifest)

    async def close(self, success: bool) -> None:
        """Write the small members, flush and rename; on failure keep the partial file to resume."""
        if self._fd < 0:
            return
        try:
            await asyncio.gather(*self._writeback, return_exceptions=True)
            if not success:
                if not self._kept:
                    self.partial.unlink(missing_ok=True)  # nothing a resume could use
                return
            for member in self.layout.members:
                data = self.layout.inline.get(member.name)
                if data is not None:
                    _pwrite(self._fd, member.header + data + padding(member.size), member.offset,
                            self.partial)
            tail = self.layout.tail(self.names.index())
            _pwrite(self._fd, tail, self.layout.size, self.partial)
            os.ftruncate(self._fd, self.layout.size + len(tail))
            await asyncio.to_thread(os.fsync, self._fd)
            os.replace(self.partial, self.path)
            await asyncio.to_thread(fsync_dir, self.path.parent)
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _pwrite(fd: int, data: bytes, offset: int, path: Path) -> int:
    try:
        written = 0
        while written < len(data):
            written += os.pwrite(fd, memoryview(data)[written:], offset + written)
    except OSError as exc:
        raise RelocatorError(f"{path}: cannot write ({exc.strerror})") from None
    return written


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
