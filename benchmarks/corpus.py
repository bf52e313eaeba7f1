"""A corpus typical of a company's images, seeded into a registry.

    python -m benchmarks.corpus HOST:PORT [--total-mb 1000] [--refs 100] [--repos 25] > refs.txt

About 100 references over about 25 repositories that share a few base-layer stacks, about 20%
multi-platform indexes, mixed Docker and OCI media types, gzip layers of random data (stored
deflate blocks: valid gzip, incompressible, cheap to make). Prints one reference a line.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import random
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from relocator.commands.common import open_client
from relocator.config import Limits, Settings, TLSSettings
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.registry import RegistryClient

MB = 1_000_000
OCI = ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
       "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
DOCKER = ("application/vnd.docker.distribution.manifest.v2+json",
          "application/vnd.docker.distribution.manifest.list.v2+json",
          "application/vnd.docker.container.image.v1+json",
          "application/vnd.docker.image.rootfs.diff.tar.gzip")


def gzip_layer(rng: random.Random, size: int) -> bytes:
    """A gzip member of ``size`` random bytes, stored uncompressed (level 0)."""
    data = b"".join(rng.randbytes(min(64 << 20, size - i)) for i in range(0, size, 64 << 20))
    return gzip.compress(data, compresslevel=0, mtime=0)


@dataclass
class Corpus:
    """Blobs by digest, manifests to push in order (children first), and tagged references."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: list[tuple[str, str, bytes]] = field(default_factory=list)  # repo, media type, raw
    tags: list[tuple[str, str, str, bytes]] = field(default_factory=list)  # repo, tag, type, raw

    def add_blob(self, data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    @property
    def unique_bytes(self) -> int:
        return sum(len(b) for b in self.blobs.values()) + sum(len(m[2]) for m in self.manifests)


def build(total: int, refs: int, repos: int, seed: int = 7) -> Corpus:
    """Plan the corpus: base stacks shared by many images, app layers of their own."""
    rng = random.Random(seed)
    corpus = Corpus()
    # A third of the bytes sit in 4 base stacks (os, os+runtime...), shared across repositories.
    base_budget, app_budget = total // 3, total - total // 3
    bases: list[list[bytes]] = []
    for b in range(4):
        sizes = [base_budget // 7] * 3  # the four stacks hold 1+2+3+1 = 7 layers
        bases.append([gzip_layer(rng, s) for s in sizes[: 1 + b % 3]])
    per_image_platform = app_budget // int(refs * 1.2)
    # The first 25 names are the default corpus's; sync's 50-repository no-op run adds five teams.
    repo_names = [f"{team}/{svc}" for team in ("platform", "payments", "search", "data", "web", "mobile",
                                               "infra", "billing", "auth", "ml")
                  for svc in ("api", "worker", "ui", "cron", "gateway")][:repos]

    def image(kinds: tuple[str, ...], base: list[bytes], arch: str) -> tuple[str, bytes]:
        layers = [*base, gzip_layer(rng, max(1024, int(per_image_platform * rng.uniform(0.5, 1.5))))]
        config = json.dumps({"architecture": arch, "os": "linux", "created": "2026-01-01T00:00:00Z",
                             "config": {"Labels": {"build": str(rng.random())}},
                             "rootfs": {"type": "layers", "diff_ids": [
                                 "sha256:" + hashlib.sha256(x).hexdigest() for x in layers]}}).encode()
        doc = {"schemaVersion": 2, "mediaType": kinds[0],
               "config": {"mediaType": kinds[2], **corpus.add_blob(config)},
               "layers": [{"mediaType": kinds[3], **corpus.add_blob(x)} for x in layers]}
        return kinds[0], json.dumps(doc, indent=3).encode()

    for i in range(refs):
        repo = repo_names[i % len(repo_names)]
        kinds = DOCKER if rng.random() < 0.5 else OCI
        base = bases[i % len(bases)]
        if rng.random() < 0.2:
            children = []
            for arch in ("amd64", "arm64"):
                media_type, raw = image(kinds, base, arch)
                corpus.manifests.append((repo, media_type, raw))
                children.append({"mediaType": media_type, "size": len(raw),
                                 "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
                                 "platform": {"os": "linux", "architecture": arch}})
            index = json.dumps({"schemaVersion": 2, "mediaType": kinds[1], "manifests": children}).encode()
            corpus.tags.append((repo, f"v{i}", kinds[1], index))
        else:
            media_type, raw = image(kinds, base, "amd64")
            corpus.tags.append((repo, f"v{i}", media_type, raw))
    return corpus


async def seed(host: str, corpus: Corpus, concurrency: int = 16) -> None:
    """Push the corpus with relocator's client: blobs once per repository that needs them."""
    settings = Settings(limits=Limits(concurrency=concurrency),
                        tls=TLSSettings(insecure_registries=frozenset({host})))
    async with open_client(settings) as client:
        gate = asyncio.Semaphore(concurrency)
        needed: dict[tuple[str, str], bytes] = {}
        for repo, media_type, raw in [*corpus.manifests, *[(r, m, x) for r, _, m, x in corpus.tags]]:
            for child in Manifest.parse(raw, media_type).children:
                if str(child.digest) in corpus.blobs:
                    needed[(repo, str(child.digest))] = corpus.blobs[str(child.digest)]

        async def push(repo: str, digest: str, data: bytes) -> None:
            async with gate:
                await _push_blob(client, Repository(host, repo), digest, data)

        await asyncio.gather(*(push(r, d, x) for (r, d), x in needed.items()))
        for repo, media_type, raw in corpus.manifests:
            m = Manifest.parse(raw, media_type)
            await client.put_manifest(Reference(Repository(host, repo), digest=m.digest), m)
        for repo, tag, media_type, raw in corpus.tags:
            await client.put_manifest(Reference(Repository(host, repo), tag=tag),
                                      Manifest.parse(raw, media_type))


async def _push_blob(client: RegistryClient, repo: Repository, digest: str, data: bytes) -> None:
    desc = Descriptor("application/octet-stream", Digest.parse(digest), len(data))
    if await client.head_blob(repo, desc.digest) is not None:
        return

    async def chunks(offset: int) -> AsyncIterator[bytes]:
        for i in range(offset, len(data), 1 << 20):
            yield data[i : i + (1 << 20)]

    await client.push_blob(repo, desc, chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("--total-mb", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=100)
    parser.add_argument("--repos", type=int, default=25)
    args = parser.parse_args()
    corpus = build(args.total_mb * MB, args.refs, args.repos)
    asyncio.run(seed(args.host, corpus))
    for repo, tag, _, _ in corpus.tags:
        print(f"{args.host}/{repo}:{tag}")
    print(f"seeded {len(corpus.tags)} references, {len(corpus.blobs)} blobs, "
          f"{corpus.unique_bytes / MB:.0f} MB unique", file=sys.stderr)


if __name__ == "__main__":
    main()
