"""Content digests and verification of bytes while they stream."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from relocator.errors import DigestMismatch, InputError, SizeMismatch

__all__ = ["AsyncVerifier", "Digest", "Hasher", "StreamVerifier", "close_stream", "verify_stream"]

_HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[0-9a-f]+")
# A thread hop per MiB costs little; 16 streams hold at most 32 MiB between them. A big blob
# hashes 4 MiB at a time: each batch may wait for the GIL, and a lone 2 GiB layer took
# 3.8-4.3 s in pkg with 1 MiB batches, 3.2-3.3 s with 4 MiB (16 MiB: 3.0 s but 80 MB of RSS).
_HASH_BATCH = 1 << 20
_BIG_BLOB, _BIG_HASH_BATCH = 64 << 20, 4 << 20


class Hasher(Protocol):
    """The part of a hashlib object that verification needs."""

    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """An OCI content digest such as ``sha256:<64 hex>``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        want = _HEX_LENGTHS.get(self.algorithm)
        if want is None:
            raise InputError(f"invalid digest {self}: unsupported algorithm {self.algorithm!r}")
        if len(self.hex) != want or not _HEX.fullmatch(self.hex):
            raise InputError(f"invalid digest {self}: want {want} lowercase hex characters")

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:hex``; raise InputError naming the text otherwise."""
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise InputError(f"invalid digest {text!r}: missing 'algorithm:'")
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Digest of bytes held in memory (manifests, small configs)."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Hasher:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    @property
    def blob_path(self) -> str:
        """Path of this blob inside an OCI image layout."""
        return f"blobs/{self.algorithm}/{self.hex}"

    @property
    def short(self) -> str:
        """A short form for humans: ``sha256:0123456789ab``."""
        return f"{self.algorithm}:{self.hex[:12]}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class StreamVerifier:
    """Checks digest and size of bytes as they pass, raising before the last chunk is released.

    Feed each chunk to ``check`` before handing it on; ``check`` raises on the chunk that
    completes the expected size if the digest is wrong, and on any chunk past the size.
    Call ``finish`` when the stream ends to catch a short stream.

    ``prefix`` resumes a stream: (a hasher that has already taken the blob's first N bytes, N);
    the chunks fed then start at byte N, and the whole blob's digest is still what is checked.
    """

    def __init__(self, digest: Digest, size: int, what: str = "blob", *,
                 prefix: tuple[Hasher, int] | None = None) -> None:
        self.digest = digest
        self.size = size
        self.what = what
        self._hasher, self.seen = prefix if prefix is not None else (digest.hasher(), 0)
        self._verified = False

    def check(self, chunk: bytes) -> None:
        """Account for one chunk; raise if the stream is already wrong."""
        complete = self.count(chunk)
        self._hasher.update(chunk)
        if complete:
            self._verify_digest()

    def count(self, chunk: bytes) -> bool:
        """Account for one chunk's size without hashing it; True when the size is complete."""
        self.seen += len(chunk)
        if self.seen > self.size:
            raise SizeMismatch(
                f"{self.what} {self.digest}: expected {self.size} bytes, got at least {self.seen}"
            )
        return self.seen == self.size

    def update(self, chunks: list[bytes]) -> None:
        """Hash counted chunks, in order; safe in a worker thread (hashlib lets go of the GIL)."""
        for chunk in chunks:
            self._hasher.update(chunk)

    def finish(self) -> None:
        """Raise unless exactly the expected bytes with the expected digest went by."""
        if self.seen != self.size:
            raise SizeMismatch(f"{self.what} {self.digest}: expected {self.size} bytes, got {self.seen}")
        if not self._verified:
            self._verify_digest()

    def _verify_digest(self) -> None:
        got = self._hasher.hexdigest()
        if got != self.digest.hex:
            raise DigestMismatch(
                f"{self.what} {self.digest}: content hashes to {self.digest.algorithm}:{got}"
            )
        self._verified = True


class AsyncVerifier:
    """A StreamVerifier for async streams: threaded, it hashes 1 MiB batches (4 MiB for a big
    blob) in worker threads, one batch in flight per stream; otherwise each chunk on the loop.
    """

    def __init__(self, digest: Digest, size: int, what: str = "blob", *, threaded: bool = True,
                 prefix: tuple[Hasher, int] | None = None) -> None:
        self._verifier = StreamVerifier(digest, size, what, prefix=prefix)
        self._threaded = threaded
        self._batch = _BIG_HASH_BATCH if size >= _BIG_BLOB else _HASH_BATCH
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._hashing: asyncio.Future[None] | None = None

    async def feed(self, chunk: bytes) -> None:
        """Take one chunk; on the chunk that completes the size, raise unless the digest matches."""
        if not self._threaded:
            self._verifier.check(chunk)
            return
        complete = self._verifier.count(chunk)
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size >= self._batch or complete:
            await self._drain()
            self._hashing = asyncio.ensure_future(asyncio.to_thread(self._verifier.update, self._pending))
            self._pending, self._pending_size = [], 0
        if complete:
            await self._drain()
            self._verifier.finish()

    async def finish(self) -> None:
        """Raise unless exactly the expected bytes with the expected digest went by."""
        await self._drain()
        self._verifier.update(self._pending)
        self._pending = []
        self._verifier.finish()

    async def _drain(self) -> None:
        if self._hashing is not None:
            hashing, self._hashing = self._hashing, None
            await hashing


async def verify_stream(
    chunks: AsyncIterator[bytes], digest: Digest, size: int, what: str = "blob"
) -> AsyncIterator[bytes]:
    """Yield the chunks unchanged, failing before the final one if digest or size is wrong."""
    verifier = StreamVerifier(digest, size, what)
    async for chunk in chunks:
        if chunk:
            verifier.check(chunk)
            yield chunk
    verifier.finish()


async def close_stream(chunks: AsyncIterator[bytes]) -> None:
    """Close a stream of chunks now (``aclose``, when it has one), so its ``finally`` blocks give
    back what it holds (a connection, a host's slot) without waiting for the garbage collector:
    an ``async for`` that stops early does not close the iterator it was reading, so each layer
    of a blob stream closes the one it wraps, in a ``finally`` (issue 13). Here, below both
    stores and registry, so neither copies it and stores need not load aiohttp to use it."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
