"""OCI layouts as a BlobSource: a tarball (indexed once, read by offset) or a directory.

The tar reader refuses links, devices, absolute paths, ``..``, names outside the layout,
duplicate members with different content, and members whose size disagrees with a descriptor.
"""

from __future__ import annotations

import tarfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from relocator.errors import InputError, SizeMismatch, UnsafeTarMember
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository, verify_stream
from relocator.oci.layout import INDEX_JSON, LAYOUT_FILE, IndexEntry, member_digest, parse_index
from relocator.stores.base import Opener
from relocator.stores.files import hash_range

__all__ = ["LayoutSource", "open_layout"]

_READ = 1 << 20
_MAX_MANIFEST = 16 << 20
_LAYOUT_DIRS = {"blobs", "./blobs", "."}


@dataclass(frozen=True, slots=True)
class _Member:
    path: Path
    offset: int
    size: int


class LayoutSource:
    """Reads manifests and blobs of an OCI layout by digest."""

    def __init__(self, where: str, members: dict[Digest, _Member], index_raw: bytes) -> None:
        self.where = where
        self._members = members
        self.entries: list[IndexEntry] = parse_index(index_raw, where)
        self._types = {e.descriptor.digest: e.descriptor.media_type for e in self.entries}

    @property
    def digests(self) -> set[Digest]:
        """Every blob and manifest in the layout."""
        return set(self._members)

    def member(self, digest: Digest, size: int | None = None) -> _Member:
        """Where a digest's bytes are; refuses a size that disagrees with the descriptor."""
        found = self._members.get(digest)
        if found is None:
            raise InputError(f"{self.where}: {digest.blob_path} is missing")
        if size is not None and found.size != size:
            raise SizeMismatch(f"{self.where}: {digest.blob_path} has {found.size} bytes, "
                               f"its descriptor says {size}")
        return found

    async def read_small(self, digest: Digest) -> bytes:
        """A whole member that is small enough to hold (manifests, index entries)."""
        m = self.member(digest)
        if m.size > _MAX_MANIFEST:
            raise InputError(f"{self.where}: manifest {digest} is larger than {_MAX_MANIFEST} bytes")
        chunks = [c async for c in self._chunks(m, 0)]
        raw = b"".join(chunks)
        if Digest.of(raw, digest.algorithm) != digest:
            raise InputError(f"{self.where}: {digest.blob_path} does not hash to its name")
        return raw

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest by digest, its media type taken from the descriptor that named it."""
        if ref.digest is None:
            raise InputError(f"{self.where}: {ref} names no digest")
        raw = await self.read_small(ref.digest)
        manifest = Manifest.parse(raw, self._types.get(ref.digest), where=f"{self.where}: {ref.digest}")
        for child in manifest.children:
            if child.media_type:
                self._types.setdefault(child.digest, child.media_type)
        return manifest

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob, read by offset."""

        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            yield self.blob_opener(repo, desc)(0)

        return ctx()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """Streams from an offset; from 0 the digest and size are verified as they pass."""
        member = self.member(desc.digest, desc.size)

        def opener(offset: int) -> AsyncIterator[bytes]:
            chunks = self._chunks(member, offset)
            return verify_stream(chunks, desc.digest, desc.size) if offset == 0 else chunks

        return opener

    async def _chunks(self, m: _Member, offset: int) -> AsyncIterator[bytes]:
        async with aiofiles.open(m.path, "rb") as f:
            await f.seek(m.offset + offset)
            left = m.size - offset
            while left > 0:
                chunk = await f.read(min(_READ, left))
                if not chunk:
                    raise InputError(f"{self.where}: file ends inside a member")
                left -= len(chunk)
                yield chunk


def open_layout(path: Path) -> LayoutSource:
    """A tarball (OCI layout or skopeo oci-archive) or an OCI layout directory."""
    if path.is_dir():
        return _open_dir(path)
    try:
        return _open_tar(path)
    except tarfile.TarError as exc:
        raise InputError(f"{path}: not a tar file ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def _open_dir(path: Path) -> LayoutSource:
    if not (path / LAYOUT_FILE).is_file() or not (path / INDEX_JSON).is_file():
        raise InputError(f"{path}: not an OCI image layout (no oci-layout or index.json)")
    members: dict[Digest, _Member] = {}
    for alg_dir in sorted((path / "blobs").iterdir()) if (path / "blobs").is_dir() else []:
        for blob in sorted(alg_dir.iterdir()):
            digest = member_digest(f"blobs/{alg_dir.name}/{blob.name}")
            if digest is not None and blob.is_file() and not blob.is_symlink():
                members[digest] = _Member(blob, 0, blob.stat().st_size)
    return LayoutSource(str(path), members, (path / INDEX_JSON).read_bytes())


def _open_tar(path: Path) -> LayoutSource:
    members: dict[Digest, _Member] = {}
    index_raw: bytes | None = None
    seen_layout = False
    with tarfile.open(path, "r:") as tar:
        for info in tar:  # headers only: tarfile seeks over the data
            name = info.name
            if info.isdir() and name.rstrip("/") in _LAYOUT_DIRS | {"blobs/sha256", "blobs/sha512"}:
                continue
            if not info.isreg():
                raise UnsafeTarMember(f"{path}: member {name!r} is a {_kind(info)}, not a regular file")
            digest = member_digest(name)
            if digest is None:
                if name.removeprefix("./") == INDEX_JSON:
                    if index_raw is not None:
                        raise UnsafeTarMember(f"{path}: index.json appears twice")
                    f = tar.extractfile(info)
                    assert f is not None
                    index_raw = f.read(_MAX_MANIFEST)
                else:
                    seen_layout = True
                continue
            member = _Member(path, info.offset_data, info.size)
            old = members.get(digest)
            if old is not None and (old.size != member.size or _hash(old) != _hash(member)):
                raise UnsafeTarMember(f"{path}: {name} appears twice with different content")
            members.setdefault(digest, member)
    if index_raw is None or not seen_layout:
        raise InputError(f"{path}: not an OCI image layout tar (no oci-layout or index.json)")
    return LayoutSource(str(path), members, index_raw)


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "fifo"
    return "directory" if info.isdir() else "special member"


def _hash(m: _Member) -> str:
    with m.path.open("rb") as f:
        digest = hash_range(f.fileno(), m.offset, m.size)
    if digest is None:
        raise InputError(f"{m.path}: file ends inside a member")
    return digest
