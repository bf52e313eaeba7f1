"""The simplest correct copy: the "limit" row of the comparison.

    python -m benchmarks.limit_copy SRC_HOST DST_HOST refs.txt [--concurrency 32]

Plain aiohttp, no relocator code: fetch every manifest, read every unique blob once and
stream it into one destination repository, mount it into the others, then push manifests
(children first) and tags. No retries, no verification beyond the registry's own, no report.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys

import aiohttp

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


async def copy(src: str, dst: str, refs: list[str], concurrency: int) -> None:
    """Copy ``refs`` from ``src`` into the same paths and tags on ``dst``."""
    connector = aiohttp.TCPConnector(limit=concurrency * 2, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as s:
        manifests: dict[tuple[str, str], tuple[str, bytes]] = {}  # (repo, digest) -> (type, raw)
        order: list[tuple[str, str]] = []
        blobs: dict[str, tuple[int, list[str]]] = {}  # digest -> (size, repos)

        async def walk(repo: str, ref: str) -> str:
            async with s.get(f"http://{src}/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT}) as r:
                r.raise_for_status()
                raw, media_type = await r.read(), r.headers["Content-Type"]
            digest = "sha256:" + hashlib.sha256(raw).hexdigest()
            doc = json.loads(raw)
            if "manifests" in doc:
                await asyncio.gather(*(walk(repo, m["digest"]) for m in doc["manifests"]))
            else:
                for d in [doc["config"], *doc["layers"]]:
                    _, repos = blobs.setdefault(d["digest"], (d["size"], []))
                    if repo not in repos:
                        repos.append(repo)
            if (repo, digest) not in manifests:
                manifests[(repo, digest)] = (media_type, raw)
                order.append((repo, digest))
            return digest

        parsed = [(r.split("/", 1)[1].rsplit(":", 1)) for r in refs]
        roots = await asyncio.gather(*(walk(repo, tag) for repo, tag in parsed))
        gate = asyncio.Semaphore(concurrency)

        async def one_blob(digest: str, size: int, repos: list[str]) -> None:
            async with gate:
                async with s.post(f"http://{dst}/v2/{repos[0]}/blobs/uploads/") as r:
                    location = r.headers["Location"]
                async with s.get(f"http://{src}/v2/{repos[0]}/blobs/{digest}") as body:
                    body.raise_for_status()
                    sep = "&" if "?" in location else "?"
                    chunks = body.content.iter_chunked(1 << 18)
                    async with s.put(f"{location}{sep}digest={digest}", data=chunks,
                                     headers={"Content-Length": str(size)}) as r:
                        r.raise_for_status()
            for repo in repos[1:]:
                async with gate, s.post(f"http://{dst}/v2/{repo}/blobs/uploads/",
                                        params={"mount": digest, "from": repos[0]}) as r:
                    if r.status != 201:
                        raise RuntimeError(f"mount of {digest} into {repo} answered {r.status}")

        await asyncio.gather(*(one_blob(d, size, repos) for d, (size, repos) in
                               sorted(blobs.items(), key=lambda kv: -kv[1][0])))
        for repo, digest in order:  # walk() appended children before their index
            media_type, raw = manifests[(repo, digest)]
            async with s.put(f"http://{dst}/v2/{repo}/manifests/{digest}", data=raw,
                             headers={"Content-Type": media_type}) as r:
                r.raise_for_status()
        for (repo, tag), digest in zip(parsed, roots, strict=True):
            media_type, raw = manifests[(repo, digest)]
            async with s.put(f"http://{dst}/v2/{repo}/manifests/{tag}", data=raw,
                             headers={"Content-Type": media_type}) as r:
                r.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("refs")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    refs = [line.strip() for line in open(args.refs) if line.strip()]  # noqa: SIM115
    asyncio.run(copy(args.src, args.dst, refs, args.concurrency))
    print(f"copied {len(refs)} references", file=sys.stderr)


if __name__ == "__main__":
    main()
