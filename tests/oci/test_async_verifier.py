"""AsyncVerifier: the same guarantees as StreamVerifier, hashing in worker threads or not."""

from __future__ import annotations

import asyncio
import os

import pytest

from relocator.errors import DigestMismatch, SizeMismatch
from relocator.oci import AsyncVerifier, Digest

DATA = os.urandom(3 * 1024 * 1024 + 12_345)  # batches cross MiB boundaries, the last one short


def _chunks(data: bytes, size: int = 100_000) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


async def _feed(verifier: AsyncVerifier, chunks: list[bytes]) -> int:
    """Feed every chunk; return how many were accepted before an error."""
    for n, chunk in enumerate(chunks):
        try:
            await verifier.feed(chunk)
        except (DigestMismatch, SizeMismatch):
            return n
    await verifier.finish()
    return len(chunks)


@pytest.mark.parametrize("threaded", [True, False])
def test_good_stream_passes(threaded: bool) -> None:
    chunks = _chunks(DATA)
    verifier = AsyncVerifier(Digest.of(DATA), len(DATA), threaded=threaded)
    assert asyncio.run(_feed(verifier, chunks)) == len(chunks)


@pytest.mark.parametrize("threaded", [True, False])
def test_wrong_byte_fails_on_the_last_chunk_before_it_is_released(threaded: bool) -> None:
    bad = bytearray(DATA)
    bad[10] ^= 1
    chunks = _chunks(bytes(bad))
    accepted = asyncio.run(_feed(AsyncVerifier(Digest.of(DATA), len(DATA), threaded=threaded), chunks))
    assert accepted == len(chunks) - 1


@pytest.mark.parametrize("threaded", [True, False])
def test_too_many_bytes_fail_at_once(threaded: bool) -> None:
    chunks = _chunks(DATA + b"extra")
    accepted = asyncio.run(_feed(AsyncVerifier(Digest.of(DATA), len(DATA), threaded=threaded), chunks))
    assert accepted == len(chunks) - 1


@pytest.mark.parametrize("threaded", [True, False])
def test_short_stream_fails_at_finish(threaded: bool) -> None:
    with pytest.raises(SizeMismatch, match="expected"):
        asyncio.run(_feed(AsyncVerifier(Digest.of(DATA), len(DATA), threaded=threaded), _chunks(DATA[:-1])))


def test_big_blob_batches_still_fail_before_the_last_chunk() -> None:
    big = bytearray(os.urandom(1 << 20) * 65)  # 65 MiB: hashed in 4 MiB batches
    digest = Digest.of(bytes(big))
    big[-1] ^= 1
    chunks = _chunks(bytes(big), 1 << 20)
    assert asyncio.run(_feed(AsyncVerifier(digest, len(big)), chunks)) == len(chunks) - 1
