"""Atomic output files: written under a temp name beside the target, then renamed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from relocator.errors import InputError
from relocator.oci.digest import Hasher

__all__ = ["check_writable", "file_mode", "fsync_dir", "hash_range", "hasher_of_range",
           "write_atomic"]

_mode: int | None = None


def file_mode() -> int:
    """The mode a new output file gets: 0666 less the user's umask, as ``open()`` would give.
    Temp files from ``mkstemp`` are 0600 and are set to this before they are renamed."""
    global _mode
    if _mode is None:
        umask = os.umask(0o022)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        _mode = 0o666 & ~umask
    return _mode


def check_writable(path: Path, *, directory: bool = False) -> None:
    """Refuse, before any transfer, an output that cannot be written: a file ``path`` that is a
    directory (or a directory ``path`` that is a file), one whose directory is missing or not
    writable, or an existing file that is read only. Raises InputError naming ``path``."""
    if path.is_dir() != directory and path.exists():
        raise InputError(f"{path}: is a {'file' if directory else 'directory'}, "
                         f"not a {'directory' if directory else 'file'}")
    if path.exists() and not os.access(path, os.W_OK | (os.X_OK if directory else 0)):
        raise InputError(f"{path}: cannot write (permission denied)")
    if directory and path.exists():
        return
    parent = path.parent if str(path.parent) else Path(".")
    existing = next(p for p in (parent, *parent.parents) if p.exists())
    if not existing.is_dir():
        raise InputError(f"{path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{path}: cannot write in {existing} (permission denied)")
    if existing != parent and not directory:
        raise InputError(f"{path}: directory {parent} does not exist")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=directory)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable: a crash must not bring the old name back."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_range(fd: int, offset: int, size: int, algorithm: str = "sha256") -> str | None:
    """Hex digest of ``size`` bytes at ``offset`` of an open file; None if the file ends first."""
    h = hasher_of_range(fd, offset, size, algorithm)
    return None if h is None else h.hexdigest()


def hasher_of_range(fd: int, offset: int, size: int, algorithm: str = "sha256") -> Hasher | None:
    """A hash object of ``algorithm`` that has taken ``size`` bytes at ``offset`` of an open file
    (blocking: run it in a thread), to go on hashing what follows; None if the file ends first."""
    h = hashlib.new(algorithm)
    position, end = offset, offset + size
    while position < end:
        block = os.pread(fd, min(1 << 20, end - position), position)
        if not block:
            return None
        h.update(block)
        position += len(block)
    return h
