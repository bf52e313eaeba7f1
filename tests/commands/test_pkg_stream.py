"""``pkg -o -`` and ``pkg -o FILE`` are one writer: the same images give the same bytes."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.commands.test_pkg import ENV, _corpus
from tests.images import seed, valid_image
from tests.proxy import FaultProxy
from tests.registries import Registry


@dataclass
class SlowBlobProxy(FaultProxy):
    """Holds back the answer to a GET of the blobs in ``slow``, so smaller ones finish first."""

    slow: set[str] = field(default_factory=set)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path.rsplit("/", 1)[-1] in self.slow:
            await asyncio.sleep(0.5)
        return await super().forward(request)


async def _pkg(*args: str, stdout: int = asyncio.subprocess.PIPE) -> tuple[int, bytes, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "relocator", "pkg", *args,
                                                stdout=stdout, stderr=asyncio.subprocess.PIPE, env=ENV)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    return proc.returncode or 0, out or b"", err.decode()


async def test_stdout_and_file_tars_are_byte_identical(registry: Registry, tmp_path: Path) -> None:
    images = _corpus(registry, 50)
    blobs = {d: data for image in images.values() for d, data in _all_blobs(image).items()}
    largest = sorted(blobs, key=lambda d: -len(blobs[d]))[:3]
    proxy = await SlowBlobProxy(registry, slow=set(largest)).start()
    try:
        refs = [ref.replace(registry.host, proxy.host) for ref in images]
        inputs = [a for r in refs for a in ("-i", r)]
        out = tmp_path / "file.tar"
        code, _, err = await _pkg(*inputs, "-o", str(out))
        assert code == 0, err
        spool = tmp_path / "spool"
        # Through a pipe (sendfile into it), one download at a time and sixteen at once: with the
        # largest blobs held back, downloads finish in another order each time; members never do.
        for concurrency in ("1", "16"):
            code, piped, err = await _pkg(*inputs, "-o", "-", "--concurrency", concurrency,
                                          "--spool-dir", str(spool))
            assert code == 0, err
            assert piped == out.read_bytes(), f"--concurrency {concurrency}"
            assert not spool.exists()  # every spooled blob was appended and removed, then the directory
        # Into a regular file as stdout.
        redirected = tmp_path / "redirected.tar"
        with redirected.open("wb") as f:
            code, _, err = await _pkg(*inputs, "-o", "-", stdout=f.fileno())
        assert code == 0, err
        assert redirected.read_bytes() == out.read_bytes()
    finally:
        await proxy.stop()
    with tarfile.open(out) as tar:
        names = tar.getnames()
    by_size = sorted(blobs, key=lambda d: (-len(blobs[d]), d))
    assert names[:1 + len(by_size)] == ["oci-layout", *(f"blobs/sha256/{d[7:]}" for d in by_size)]
    assert names[-1] == "index.json"


def _all_blobs(image: object) -> dict[str, bytes]:
    from tests.images import Image

    assert isinstance(image, Image)
    found = dict(image.blobs)
    for child in image.children:
        found |= _all_blobs(child)
    return found


async def test_a_reader_that_goes_away_fails_the_run_without_a_hang(registry: Registry,
                                                                    tmp_path: Path) -> None:
    rng = random.Random(52)
    refs = []
    for i in range(3):
        seed(registry, f"pkg/gone{i}", "v1", valid_image(rng, (2 << 20, 1 << 20)))
        refs.append(f"{registry.host}/pkg/gone{i}:v1")
    spool = tmp_path / "spool"
    reader, writer = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relocator", "pkg", *[a for r in refs for a in ("-i", r)], "-o", "-",
        "--spool-dir", str(spool), stdout=writer, stderr=asyncio.subprocess.PIPE, env=ENV)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        assert (await asyncio.to_thread(pipe.read, 4096))[:10] == b"oci-layout"
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1 and "cannot write the tar stream (Broken pipe)" in err.decode()
    assert not spool.exists()
