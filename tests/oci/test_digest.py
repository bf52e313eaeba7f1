"""Digests and verification inside the stream."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from relocator.errors import DigestMismatch, InputError, SizeMismatch
from relocator.oci import Digest, verify_stream
from relocator.oci.digest import StreamVerifier


def test_parse_and_str_round_trip() -> None:
    for text in ("sha256:" + "0" * 64, "sha512:" + "f" * 128):
        assert str(Digest.parse(text)) == text
    assert Digest.of(b"abc") == Digest.parse("sha256:" + hashlib.sha256(b"abc").hexdigest())
    assert Digest.of(b"abc", "sha512").hex == hashlib.sha512(b"abc").hexdigest()
    assert Digest.of(b"").blob_path.startswith("blobs/sha256/e3b0c442")


@pytest.mark.parametrize("bad", ["sha256", "sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64,
                                 "sha512:" + "0" * 64, ""])
def test_bad_digest_named(bad: str) -> None:
    with pytest.raises(InputError, match="invalid digest"):
        Digest.parse(bad)


async def _gen(*chunks: bytes) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def _drain(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


@pytest.mark.parametrize("alg", ["sha256", "sha512"])
async def test_good_stream_passes(alg: str) -> None:
    data = [b"a" * 10, b"b" * 20, b"c"]
    digest = Digest.of(b"".join(data), alg)
    assert await _drain(verify_stream(_gen(*data), digest, 31)) == data


async def test_wrong_digest_fails_before_last_chunk_is_released() -> None:
    digest = Digest.of(b"right bytes!")
    seen: list[bytes] = []
    with pytest.raises(DigestMismatch, match=str(digest)):
        async for chunk in verify_stream(_gen(b"wrong ", b"bytes!"), digest, 12):
            seen.append(chunk)
    assert seen == [b"wrong "]


async def test_too_long_and_too_short() -> None:
    digest = Digest.of(b"abc")
    got: list[bytes] = []
    with pytest.raises(SizeMismatch, match="expected 3 bytes, got at least 4"):
        async for chunk in verify_stream(_gen(b"ab", b"cd"), digest, 3):
            got.append(chunk)
    assert got == [b"ab"]
    with pytest.raises(SizeMismatch, match="expected 3 bytes, got 2"):
        await _drain(verify_stream(_gen(b"ab"), digest, 3))


def test_verifier_empty_blob() -> None:
    v = StreamVerifier(Digest.of(b""), 0)
    v.finish()
    assert v.seen == 0
