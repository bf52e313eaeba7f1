"""What a tarball or layout holds: its members, indexed from the tar headers in one pass.

Every reader (OCI layout, Docker archive, Carvel) turns an archive into ``Contents``: where each
blob's bytes are (a ``Member``: a range of a file, or bytes held in memory), the entries a user
names, and notes. Nothing is ever extracted; members are read by offset.

The scan refuses, whatever the format: absolute names and ``..`` components, devices, fifos and
sparse files, a member cut short by the end of the file, and a name that appears twice with
different content. Links are kept for the format to refuse or follow (``TarIndex.follow`` never
leaves the archive). A gzip, bzip2 or xz compressed archive is first decompressed (``decompress_to_temp``).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from relocator.errors import InputError, UnsafeTarMember
from relocator.oci import Digest
from relocator.oci.layout import IndexEntry, clean_member_name
from relocator.stores.files import hash_range

__all__ = ["Contents", "Member", "TarIndex", "TarMember", "decompress_to_temp", "read_range"]

_GUNZIP_CHUNK = 1 << 20
_FOLLOW_LIMIT = 8  # links to links: Docker writes one hop (layer.tar -> ../<id>.tar)


@dataclass(frozen=True, slots=True)
class Member:
    """Where one blob's bytes are: ``size`` bytes at ``offset`` of ``path`` (None: the archive the
    source holds open), or ``data`` held in memory. ``name`` names it in errors."""

    name: str
    size: int
    offset: int = 0
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def inline(cls, name: str, data: bytes) -> Member:
        """Bytes in memory: a rebuilt manifest, a manifest or config carried in manifest.json."""
        return cls(name, len(data), data=data)


@dataclass(frozen=True, slots=True)
class Contents:
    """What one reader found: ``kind`` ("OCI layout", "Docker archive", "Carvel tarball"), the
    blobs and manifests by digest, the named entries, manifest media types known up front, notes."""

    kind: str
    members: Mapping[Digest, Member]
    entries: tuple[IndexEntry, ...]
    media_types: Mapping[Digest, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TarMember:
    """One tar header: the cleaned name (``""`` for the root), its kind, data offset and size,
    and for a link its target as written."""

    name: str
    kind: str  # "file", "directory", "symbolic link", "hard link"
    offset: int
    size: int
    link: str = ""


class TarIndex:
    """Every member of a tar read from its headers once, over a file descriptor held open."""

    def __init__(self, where: str, fd: int) -> None:
        self.where = where
        self.fd = fd
        self.members: dict[str, TarMember] = {}
        end = os.fstat(fd).st_size
        try:
            with open(fd, "rb", closefd=False) as f:
                f.seek(0)  # the descriptor may be shared with a writer left at the end
                with tarfile.open(fileobj=f, mode="r:") as tar:
                    for info in tar:  # headers only: tarfile seeks over the data
                        self._add(info, end)
        except tarfile.TarError as exc:
            raise InputError(f"{where}: not a tar file ({exc})") from None

    def _add(self, info: tarfile.TarInfo, end: int) -> None:
        try:
            name = clean_member_name(info.name)
        except UnsafeTarMember as exc:
            raise UnsafeTarMember(f"{self.where}: {exc}") from None
        kind = _kind(info)
        if kind not in ("file", "directory", "symbolic link", "hard link"):
            raise UnsafeTarMember(f"{self.where}: member {info.name!r} is a {kind}, not a regular file")
        if kind == "file" and info.offset_data + info.size > end:
            raise InputError(f"{self.where}: member {info.name!r} is cut short by the end of the file")
        member = TarMember(name, kind, info.offset_data, info.size if kind == "file" else 0, info.linkname)
        old = self.members.get(name)
        if old is not None and old != member and not self._same(old, member):
            raise UnsafeTarMember(f"{self.where}: {name} appears twice with different content")
        self.members.setdefault(name, member)

    def _same(self, a: TarMember, b: TarMember) -> bool:
        if a.kind != "file" or b.kind != "file" or a.size != b.size:
            return a.kind == b.kind == "directory"
        return hash_range(self.fd, a.offset, a.size) == hash_range(self.fd, b.offset, b.size)

    def file(self, name: str) -> Member | None:
        """The regular file ``name`` (cleaned) as a Member; None if there is no such member.

        Raises UnsafeTarMember if ``name`` is there but is not a regular file.
        """
        found = self.members.get(name)
        if found is None:
            return None
        if found.kind != "file":
            raise UnsafeTarMember(f"{self.where}: member {name!r} is a {found.kind}, not a regular file")
        return Member(name, found.size, found.offset)

    def follow(self, name: str) -> Member | None:
        """Like ``file``, but a symbolic or hard link leads to the regular member it names, if
        that member is inside the archive (``docker save`` links layers saved twice)."""
        name = clean_member_name(name)
        for _ in range(_FOLLOW_LIMIT):
            found = self.members.get(name)
            if found is None or found.kind not in ("symbolic link", "hard link"):
                return self.file(name)
            target = found.link
            if found.kind == "symbolic link":
                target = _inside(posixpath.join(posixpath.dirname(name), target), self.where, name)
            name = clean_member_name(target)
        raise UnsafeTarMember(f"{self.where}: member {name!r} is a chain of more than {_FOLLOW_LIMIT} links")

    def read(self, member: Member, limit: int) -> bytes:
        """A whole small member (manifest.json, index.json, a config); InputError past ``limit``."""
        if member.size > limit:
            raise InputError(f"{self.where}: {member.name} is larger than {limit} bytes")
        return read_range(self.fd, member.offset, member.size, self.where, member.name)


def read_range(fd: int, offset: int, size: int, where: str, name: str) -> bytes:
    """``size`` bytes at ``offset``; InputError naming the member if the file ends first."""
    data = os.pread(fd, size, offset)
    while len(data) < size:
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise InputError(f"{where}: file ends inside member {name}")
        data += more
    return data


def _inside(path: str, where: str, name: str) -> str:
    """``path`` with ``..`` resolved; UnsafeTarMember if it climbs above the archive's root."""
    parts: list[str] = []
    if path.startswith("/"):
        raise UnsafeTarMember(f"{where}: link {name!r} points outside the archive")
    for part in path.split("/"):
        if part == "..":
            if not parts:
                raise UnsafeTarMember(f"{where}: link {name!r} points outside the archive")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def _kind(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "symbolic link"
    if info.islnk():
        return "hard link"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "fifo"
    if info.isdir():
        return "directory"
    if info.issparse():
        return "sparse file"
    return "file" if info.isreg() else "special member"


def decompress_to_temp(fd: int, where: str) -> int | None:
    """A gzip, bzip2 or xz compressed ``fd`` decompressed into an unnamed temp file (the new
    file's descriptor); None when it is not compressed, told by its magic bytes (RFC 1952,
    bzip2's ``BZh1``-``BZh9``, the xz format's header). Raises InputError naming ``where`` for
    zstd (no reader in Python's standard library) and for a broken stream."""
    head = os.pread(fd, 6, 0)
    if head.startswith(_ZSTD_MAGIC):
        raise InputError(f"{where}: compressed with zstd, which relocator does not read: "
                         "decompress it first (zstd -d)")
    for magic, name, opener in _COMPRESSIONS:
        if head.startswith(magic) and (name != "bzip2" or head[3:4] in b"123456789"):
            return _inflate(fd, where, name, opener)
    return None


def _inflate(fd: int, where: str, name: str, opener: Callable[[BinaryIO], io.BufferedIOBase]) -> int:
    """Decompress ``fd`` (``name`` compressed, read through ``opener``) into an unnamed temp file in
    the system temp dir, a MiB at a time (no name on disk, so nothing is left behind even by a
    killed process); the new file's descriptor. Raises InputError naming ``where`` for a broken
    stream or a temp dir without room."""
    try:
        with (open(fd, "rb", closefd=False) as packed, opener(packed) as stream,
              tempfile.TemporaryFile(prefix="relocator-") as plain):
            shutil.copyfileobj(stream, plain, _GUNZIP_CHUNK)
            plain.flush()
            return os.dup(plain.fileno())
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise InputError(f"{where}: cannot decompress into {tempfile.gettempdir()} "
                             f"({exc.strerror}; set TMPDIR to a disk with room)") from None
        raise InputError(f"{where}: not a valid {name} file ({exc})") from None


def _gzip(f: BinaryIO) -> io.BufferedIOBase:
    return gzip.GzipFile(fileobj=f)


def _bzip2(f: BinaryIO) -> io.BufferedIOBase:
    return bz2.BZ2File(f)


def _xz(f: BinaryIO) -> io.BufferedIOBase:
    return lzma.LZMAFile(f)


_COMPRESSIONS: tuple[tuple[bytes, str, Callable[[BinaryIO], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", "gzip", _gzip), (b"BZh", "bzip2", _bzip2), (b"\xfd7zXZ\x00", "xz", _xz))
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

