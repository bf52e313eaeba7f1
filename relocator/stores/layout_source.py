"""Tarballs and layouts written by other tools, as a BlobSource; ``open_layout`` tells them apart.

``open_layout(path)`` looks at content, never at the file name:

- a directory: an OCI image layout;
- a file starting with the gzip magic bytes: decompressed once into an unnamed temp file in the
  system temp dir (no name on disk, so nothing is left behind even by a killed process), then
  read as below;
- a tar with ``oci-layout`` or ``index.json``: an OCI layout (skopeo, umoci, ``tar -C DIR .``,
  relocator pkg, ``docker save`` from Docker 25 on);
- a tar with ``manifest.json`` whose items hold ``Image``/``ImageIndex``: a Carvel tarball;
- a tar with another ``manifest.json``: a Docker archive (``docker save`` before Docker 25,
  skopeo docker-archive), whose manifests are rebuilt (see ``LayoutSource.notes``).

A source holds the archive open: call ``close()`` or use it as a context manager
(``with open_layout(p) as source:``); an unclosed source lets go of its file when collected.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import tempfile
import weakref
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import TracebackType

from relocator.errors import InputError, IntegrityError, SizeMismatch
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository, verify_stream
from relocator.oci.carvel import is_carvel_manifest
from relocator.oci.layout import IndexEntry
from relocator.stores.archive import Contents, Member, TarIndex
from relocator.stores.base import Opener, ReferrerLookup
from relocator.stores.carvel import MANIFEST_JSON, read_carvel
from relocator.stores.dockerarchive import read_docker_archive
from relocator.stores.layout_referrers import LayoutReferrers, split_entries
from relocator.stores.ocilayout_read import KIND as OCI_KIND
from relocator.stores.ocilayout_read import is_oci_tar, read_oci_dir, read_oci_tar

__all__ = ["LayoutSource", "open_layout"]

_READ = 1 << 20
_MAX_MANIFEST = 16 << 20
_MAX_MANIFEST_JSON = 64 << 20  # a Carvel tarball carries every manifest and config in it
_GZIP_MAGIC = b"\x1f\x8b"


class LayoutSource:
    """Reads manifests and blobs of a tarball or layout by digest (the BlobSource protocol).

    ``entries`` are the named images (index.json entries, or their equivalent), ``where`` the
    path as given, ``kind`` the format found, ``notes`` warnings for the user (one line each).
    """

    def __init__(self, where: str, contents: Contents, fd: int | None = None) -> None:
        self.where = where
        self.kind = contents.kind
        self.notes: list[str] = list(contents.notes)
        self._members = dict(contents.members)
        self._types = {e.descriptor.digest: e.descriptor.media_type for e in contents.entries}
        self._types.update(contents.media_types)
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd) if fd is not None else None
        # An OCI layout may list referrers too (stores.layout_referrers): they are not images.
        self.referrers = (split_entries(contents.entries, self._read_now) if contents.kind == OCI_KIND
                          else LayoutReferrers(contents.entries))
        self.entries: list[IndexEntry] = list(self.referrers.images)
        for found in self.referrers.by_subject.values():
            self._types.update((r.digest, r.descriptor.media_type) for r in found if r.descriptor.media_type)

    def close(self) -> None:
        """Let go of the archive (and so of a decompressed temp file); safe to call twice."""
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> LayoutSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def digests(self) -> set[Digest]:
        """Every blob and manifest in the layout."""
        return set(self._members)

    def member(self, digest: Digest, size: int | None = None) -> Member:
        """Where a digest's bytes are; refuses a size that disagrees with the descriptor."""
        found = self._members.get(digest)
        if found is None:
            raise InputError(f"{self.where}: {digest} is missing")
        if size is not None and found.size != size:
            raise SizeMismatch(f"{self.where}: member {found.name} has {found.size} bytes, "
                               f"its descriptor says {size}")
        return found

    async def list_referrers(self, repo: Repository, subject: Descriptor,
                             artifact_type: str | None = None) -> ReferrerLookup:
        """The referrers the layout lists for ``subject`` (stores.layout_referrers)."""
        return ReferrerLookup(self.referrers.by_subject.get(subject.digest, ()))

    def _read_now(self, digest: Digest) -> bytes | None:
        """A small member's bytes, read now (blocking: ``open_layout`` runs in a thread); None when
        it is missing, too big or does not hash to ``digest``."""
        m = self._members.get(digest)
        if m is None or m.size > _MAX_MANIFEST:
            return None
        if m.data is not None:
            raw = m.data
        else:
            fd = self._fd if m.path is None else os.open(m.path, os.O_RDONLY)
            if fd is None:
                return None
            try:
                raw = os.pread(fd, m.size, m.offset)
            finally:
                if m.path is not None:
                    os.close(fd)
        return raw if len(raw) == m.size and Digest.of(raw, digest.algorithm) == digest else None

    async def read_small(self, digest: Digest) -> bytes:
        """A whole member that is small enough to hold (manifests, index entries)."""
        m = self.member(digest)
        if m.size > _MAX_MANIFEST:
            raise InputError(f"{self.where}: manifest {digest} is larger than {_MAX_MANIFEST} bytes")
        raw = b"".join([c async for c in self._chunks(m, 0)])
        if Digest.of(raw, digest.algorithm) != digest:
            raise InputError(f"{self.where}: member {m.name} does not hash to {digest}")
        return raw

    async def read_manifest(self, digest: Digest, media_type: str | None = None) -> Manifest:
        """The manifest by digest, typed by ``media_type`` or by the descriptor that named it."""
        raw = await self.read_small(digest)
        manifest = Manifest.parse(raw, media_type or self._types.get(digest), where=f"{self.where}: {digest}")
        for child in manifest.children:
            if child.media_type:
                self._types.setdefault(child.digest, child.media_type)
        return manifest

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest by digest, its media type taken from the descriptor that named it."""
        if ref.digest is None:
            raise InputError(f"{self.where}: {ref} names no digest")
        return await self.read_manifest(ref.digest)

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob, read by offset."""

        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            yield self.blob_opener(repo, desc)(0)

        return ctx()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """Streams from an offset; from 0 the digest and size are verified as they pass, and a
        mismatch names this archive and the member."""
        member = self.member(desc.digest, desc.size)

        def opener(offset: int) -> AsyncIterator[bytes]:
            chunks = self._chunks(member, offset)
            if offset:
                return chunks
            return self._named(verify_stream(chunks, desc.digest, desc.size), member)

        return opener

    async def _named(self, chunks: AsyncIterator[bytes], member: Member) -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                yield chunk
        except IntegrityError as exc:
            raise type(exc)(f"{self.where}: member {member.name}: {exc}") from None

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


def open_layout(path: Path) -> LayoutSource:
    """The tarball (optionally gzip-compressed) or OCI layout directory at ``path``, its format
    found by content (see the module docstring). Blocking: run it in a thread from async code.

    Raises InputError (exit 2) naming ``path`` for anything unreadable or of no known format,
    UnsafeTarMember for a member that could escape the archive or is not a plain file.
    """
    if path.is_dir():
        return LayoutSource(str(path), read_oci_dir(path))
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        if os.pread(fd, 2, 0) == _GZIP_MAGIC:
            packed, fd = fd, _gunzip(fd, where)
            os.close(packed)
        contents = _read_tar(TarIndex(where, fd))
    except BaseException:
        os.close(fd)
        raise
    return LayoutSource(where, contents, fd)


def _read_tar(index: TarIndex) -> Contents:
    if is_oci_tar(index):
        return read_oci_tar(index)
    manifest = index.file(MANIFEST_JSON)
    if manifest is None:
        raise InputError(f"{index.where}: not an image archive: no oci-layout or index.json (OCI layout) "
                         "and no manifest.json (Docker archive, Carvel tarball)")
    try:
        doc = json.loads(index.read(manifest, _MAX_MANIFEST_JSON))
    except ValueError as exc:
        raise InputError(f"{index.where}: manifest.json is not valid JSON ({exc})") from None
    if is_carvel_manifest(doc):
        return read_carvel(index, doc)
    return read_docker_archive(index, doc)


def _gunzip(fd: int, where: str) -> int:
    """Decompress ``fd`` into an unnamed temp file, a MiB at a time; the new file's descriptor."""
    try:
        with (open(fd, "rb", closefd=False) as packed, gzip.GzipFile(fileobj=packed) as stream,
              tempfile.TemporaryFile(prefix="relocator-") as plain):
            shutil.copyfileobj(stream, plain, _READ)
            plain.flush()
            return os.dup(plain.fileno())
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise InputError(f"{where}: cannot decompress into {tempfile.gettempdir()} "
                             f"({exc.strerror}; set TMPDIR to a disk with room)") from None
        raise InputError(f"{where}: not a valid gzip file ({exc})") from None
