"""TarWriter: a layout's bytes are the same through either output, whatever order blobs come in."""

from __future__ import annotations

import io
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest
from relocator.stores.tarwriter import FileOutput, PipeOutput, TarLayout, TarWriter

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _layout(rng: random.Random) -> tuple[TarLayout, dict[Digest, bytes]]:
    blobs = [rng.randbytes(n) for n in (9_000, 513, 512, 70_000, 1)]
    manifests = [(Digest.of(raw), raw) for raw in (b'{"m":1}', b'{"m":2}')]
    layout = TarLayout.build([Descriptor.for_bytes(LAYER, b) for b in blobs], manifests)
    return layout, {Digest.of(b): b for b in blobs}


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 4096):
        yield data[i:i + 4096]


async def test_file_in_any_order_pipe_in_order_same_bytes(tmp_path: Path) -> None:
    layout, blobs = _layout(random.Random(80))
    index = b'{"schemaVersion":2,"manifests":[]}'

    # A file: blobs streamed into their spans in a shuffled order.
    path = tmp_path / "file.tar"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        out = FileOutput(fd, path)
        writer = TarWriter(layout, out)
        shuffled = list(layout.blobs.items())
        random.Random(1).shuffle(shuffled)
        for digest, member in shuffled:
            await writer.fill(member, _chunks(blobs[digest]))
        end = writer.finish(index)
        await out.drain()
    finally:
        os.close(fd)

    # A pipe without a descriptor, and a file taking spooled blobs (copy_file_range): in order.
    spooled = {}
    for digest, data in blobs.items():
        spooled[digest] = tmp_path / digest.hex
        spooled[digest].write_bytes(data)
    pipe = io.BytesIO()
    piped = TarWriter(layout, PipeOutput(pipe))
    piped.put(layout.members[0])
    copied_path = tmp_path / "copied.tar"
    fd = os.open(copied_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        copied = TarWriter(layout, FileOutput(fd, copied_path))
        for digest, member in layout.blobs.items():
            piped.append(member, spooled[digest])
            copied.append(member, spooled[digest])
        piped.finish(index)
        copied.finish(index)
    finally:
        os.close(fd)
    assert len(pipe.getvalue()) == end == path.stat().st_size
    assert pipe.getvalue() == path.read_bytes() == copied_path.read_bytes()


def test_a_pipe_refuses_a_member_out_of_order(tmp_path: Path) -> None:
    layout, _ = _layout(random.Random(81))
    writer = TarWriter(layout, PipeOutput(io.BytesIO()))
    writer.put(layout.members[0])
    last = list(layout.blobs.values())[-1]
    spooled = tmp_path / "blob"
    spooled.write_bytes(b"x" * last.size)
    with pytest.raises(RelocatorError, match=r"a write at \d+ while the stream is at"):
        writer.append(last, spooled)


async def test_fill_refuses_more_or_fewer_bytes_than_the_member(tmp_path: Path) -> None:
    layout, blobs = _layout(random.Random(82))
    digest, member = next(iter(layout.blobs.items()))
    path = tmp_path / "t.tar"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        writer = TarWriter(layout, FileOutput(fd, path))
        with pytest.raises(RelocatorError, match="more bytes than"):
            await writer.fill(member, _chunks(blobs[digest] + b"!"))
        with pytest.raises(RelocatorError, match="bytes, not"):
            await writer.fill(member, _chunks(blobs[digest][:-1]))
        assert os.pread(fd, len(member.header), member.offset) != member.header  # no header: not whole
    finally:
        os.close(fd)
