"""Upload sessions kept between runs, so a killed run's next one resumes a large blob's upload.

The uploader asks a ``SessionBook`` (stores/uploadbook.py keeps one in the state directory) for a
session of the blob it is about to push, and tells it each Location the registry hands back (after
the POST, after each PATCH) and when the session ended. Only what is worth resuming is kept: blobs
of ``RESUMABLE_SIZE`` or more, and only Locations on the registry's own origin. A Location on
another host may carry a signed storage capability that needs no credentials; one on the
registry's own origin is useless without them (SECURITY.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from relocator.config import RESUMABLE_SIZE
from relocator.errors import RegistryError
from relocator.oci.manifest import Descriptor
from relocator.oci.reference import Repository

if TYPE_CHECKING:
    from relocator.registry.transport import Transport

__all__ = ["RESUMABLE_SIZE", "Book", "SessionBook", "parse_range"]



class SessionBook(Protocol):
    """Where upload sessions outlive a run: one Location per (registry, repository, digest)."""

    def find(self, registry: str, repository: str, digest: str) -> str | None:
        """The kept Location of that blob's session, or None."""

    def keep(self, registry: str, repository: str, digest: str, location: str) -> None:
        """Remember ``location`` as that blob's session (replacing any other)."""

    def forget(self, registry: str, repository: str, digest: str) -> None:
        """The session ended (committed or given up): remember nothing of it."""

    def claim(self, registry: str, repository: str, digest: str) -> bool:
        """Take that blob's entry for this run; False while another live run holds it (two runs
        pushing the same blob into one repository: each must use only its own session)."""

    def release(self, registry: str, repository: str, digest: str) -> None:
        """Give the entry back (the upload ended, or was given up)."""

    def close(self) -> None:
        """The run is done with the book: give back every entry it still holds."""


def parse_range(value: str | None) -> int:
    """Bytes a session holds from its ``Range: 0-<last byte>`` header; 0 when absent or bad.

    ``0-0`` is 0: distribution 2.8 answers it for an empty session and for one holding one byte
    alike, and resuming a one-byte session from its start at worst fails and starts over."""
    text = (value or "").strip().removeprefix("bytes=")  # a few registries answer "bytes=0-N"
    start, _, end = text.partition("-")
    if start.strip() != "0" or not end.strip().isdigit():
        return 0
    last = int(end)
    return last + 1 if last > 0 else 0


class Book:
    """One blob's session in a SessionBook: the uploader's view, filtered (size and origin)."""

    def __init__(self, transport: Transport, sessions: SessionBook | None, repo: Repository,
                 desc: Descriptor) -> None:
        self._transport = transport
        self._sessions = sessions if desc.size >= RESUMABLE_SIZE else None
        self._key = (repo.registry, repo.path, str(desc.digest))
        self._kept = False
        self._claimed = False

    def claim(self) -> None:
        """Take the blob's entry for this upload; held by another run, the book is left alone
        (this upload neither resumes nor keeps a session)."""
        if self._sessions is not None and not self._sessions.claim(*self._key):
            self._sessions = None
        self._claimed = self._sessions is not None

    def release(self) -> None:
        """Give the entry back when the upload ends however it ends."""
        if self._sessions is not None and self._claimed:
            self._sessions.release(*self._key)
            self._claimed = False

    async def find(self) -> str | None:
        """A session kept for this blob by an earlier run, if on the registry's own origin."""
        if self._sessions is None:
            return None
        location = self._sessions.find(*self._key)
        self._kept = location is not None
        if location is not None and not await self._own(location):
            await self.forget()
            return None
        return location

    async def keep(self, location: str) -> None:
        """Record the session's latest Location (a foreign one is never written: see above)."""
        if self._sessions is None:
            return
        if await self._own(location):
            self._sessions.keep(*self._key, location)
            self._kept = True
        else:
            await self.forget()

    async def forget(self) -> None:
        """The session ended: drop what was kept of it."""
        if self._sessions is not None and self._kept:
            self._sessions.forget(*self._key)
            self._kept = False

    async def _own(self, location: str) -> bool:
        # An empty Location would resolve to the registry's root, and one that is no URL at all
        # (urljoin refuses "http://[x") raises: neither is a session to resume (a hand-edited
        # or corrupted entry).
        if not location.strip():
            return False
        try:
            return await self._transport.owns(self._key[0], location)
        except RegistryError:  # no URL at all (Transport.url)
            return False
