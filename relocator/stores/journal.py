"""The resume journal of a partial tar: for each planned blob, how many of its bytes are in the file.

``NAME.partial.journal`` sits beside ``NAME.partial`` (the partial file's lock covers both). It is
a header line naming the layout it belongs to (the sha256 of every blob member's name, offset and
size, and the tar's size), then one 8-byte big-endian count per blob in layout order. A count is
written (``pwrite``, no fsync) right after the bytes it counts: a process killed at any point,
``kill -9`` included, leaves its writes to the kernel's page cache in order, so a count never
runs ahead of the bytes it counts. A power cut may lose either: the whole blob's digest, checked
when the resumed blob ends, catches that, and the blob is fetched again from its first byte.

Python's hash objects cannot be saved, so the journal keeps no hash state: a resume re-hashes
the counted prefix from the partial file (a local read, far cheaper than fetching it again) and
goes on hashing what the source sends from there (``StreamVerifier``'s ``prefix``).
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from relocator.errors import InputError
from relocator.oci import Digest
from relocator.stores.tarwriter import TarLayout

__all__ = ["Journal"]

_MAGIC = b"relocator tar journal 1 "
_COUNT = struct.Struct(">Q")


def _header(layout: TarLayout) -> bytes:
    """The first line: the magic and the layout's fingerprint (hex), so a journal of another plan
    (other images, other sizes) is never read against this one."""
    h = hashlib.sha256(str(layout.size).encode())
    for member in layout.blobs.values():
        h.update(f"\n{member.name} {member.offset} {member.size}".encode())
    return _MAGIC + h.hexdigest().encode() + b"\n"


class Journal:
    """The counts of one partial tar, open for the run. ``path`` is the journal file."""

    def __init__(self, path: Path, layout: TarLayout, *, fresh: bool) -> None:
        """Open (or make) the journal of ``layout``; ``fresh``, or a journal of another layout,
        starts with every count at 0. Raises InputError naming the file if it cannot be written."""
        self.path = path
        self._slots = {digest: i for i, digest in enumerate(layout.blobs)}
        self._sizes = {digest: m.size for digest, m in layout.blobs.items()}
        header = _header(layout)
        self._base = len(header)
        size = self._base + _COUNT.size * len(self._slots)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # less the umask
        except OSError as exc:
            raise InputError(f"{path}: cannot write ({exc.strerror})") from None
        try:
            if fresh or os.fstat(self._fd).st_size != size or os.pread(self._fd, self._base, 0) != header:
                os.ftruncate(self._fd, 0)
                os.ftruncate(self._fd, size)  # every count 0
                os.pwrite(self._fd, header, 0)
        except OSError as exc:
            self.close()
            raise InputError(f"{path}: cannot write ({exc.strerror})") from None

    def counted(self) -> dict[Digest, int]:
        """Every blob with a count above 0 and below or at its size: the prefixes worth resuming."""
        raw = os.pread(self._fd, _COUNT.size * len(self._slots), self._base)
        raw += bytes(_COUNT.size * len(self._slots) - len(raw))  # a short read: the rest is 0
        counts: dict[Digest, int] = {}
        for digest, slot in self._slots.items():
            (n,) = _COUNT.unpack_from(raw, slot * _COUNT.size)
            if 0 < n <= self._sizes[digest]:
                counts[digest] = n
        return counts

    def record(self, digest: Digest, n: int) -> None:
        """``n`` bytes of ``digest`` are in the partial file (write them first). A journal that
        cannot be written costs a resume its prefix, never the run: the error is dropped."""
        slot = self._slots.get(digest)
        if slot is None or self._fd < 0:
            return
        try:
            os.pwrite(self._fd, _COUNT.pack(n), self._base + slot * _COUNT.size)
        except OSError:
            pass

    def close(self) -> None:
        """Close the file, keeping it for a resume."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        """Close and delete the file: the partial file it describes is gone or finished."""
        self.close()
        self.path.unlink(missing_ok=True)
