"""Push and pull one large blob through RegistryClient; report time and peak RSS.

    python -m benchmarks.blob_rss HOST:PORT [--mib 300] [--chunk-mib 5]

Bytes are generated on the fly from a seeded PRNG, so the process never holds the blob:
the peak RSS shows what the client itself keeps in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import resource
import time
from collections.abc import AsyncIterator
from pathlib import Path

from relocator.commands.common import open_client
from relocator.config import Limits, Settings
from relocator.oci import Descriptor, Digest, Repository

MiB = 1024 * 1024


def generate(total: int, offset: int = 0) -> AsyncIterator[bytes]:
    """The blob's bytes from ``offset``: 1 MiB PRNG blocks, regenerated, never stored."""

    async def gen() -> AsyncIterator[bytes]:
        rng = random.Random(42)
        pos = 0
        while pos < total:
            block = rng.randbytes(min(MiB, total - pos))
            end = pos + len(block)
            if end > offset:
                yield block[max(0, offset - pos):]
            pos = end

    return gen()


async def digest_of(total: int) -> Digest:
    h = hashlib.sha256()
    async for block in generate(total):
        h.update(block)
    return Digest("sha256", h.hexdigest())


async def run(host: str, mib: int, chunk_mib: int) -> dict[str, object]:
    total = mib * MiB
    desc = Descriptor("application/octet-stream", await digest_of(total), total)
    settings = Settings(limits=Limits(concurrency=4))
    out: dict[str, object] = {"bytes": total}
    async with open_client(settings) as client:
        for mode, chunk in (("monolithic", None), ("chunked", chunk_mib * MiB)):
            repo = Repository(host, f"bench/blob-{mode}")
            started = time.perf_counter()
            await client.push_blob(repo, desc, lambda off: generate(total, off), chunk_size=chunk)
            pushed = time.perf_counter()
            got = 0
            async with client.open_blob(repo, desc) as chunks:  # verifies digest and size
                async for block in chunks:
                    got += len(block)
            pulled = time.perf_counter()
            assert got == total
            out[f"{mode}_push_s"] = round(pushed - started, 2)
            out[f"{mode}_pull_s"] = round(pulled - pushed, 2)
    out["digest"] = str(desc.digest)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM) in MB.

    Not getrusage's ru_maxrss: Linux carries that across execve, so a process started
    from a large parent (pytest, say) would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("--mib", type=int, default=300)
    parser.add_argument("--chunk-mib", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.host, args.mib, args.chunk_mib))))


if __name__ == "__main__":
    main()
