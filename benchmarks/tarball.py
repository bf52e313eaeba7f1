"""pkg and unpkg against their raw limits and against skopeo, on one corpus, in one run.

    python -m benchmarks.tarball [--total-mb 1000] [--refs 100] [--big-layer-mib 0]

Rows, each timed as a whole process where it is a tool:
- raw read: every unique blob read once from the source registry, hashed (plain aiohttp, 16 at once);
- raw disk write: the same number of bytes written to a file in the output directory and fsynced;
- relocator pkg (and the transfer time its own --json report gives, after start-up and planning);
  skopeo copy of each reference into one shared oci: layout, then tar of it;
- raw registry write: every unique blob uploaded from the tar to an empty registry (plain aiohttp);
- relocator unpkg; a skopeo loop pushing each reference from the layout directory.
``--big-layer-mib 2048`` adds an image with a 2 GiB layer, to watch peak RSS. Never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.corpus import MB, Corpus, build, gzip_layer, seed
from benchmarks.harness import ROOT, timed
from relocator.oci import Manifest
from tests.registries import Registry, start_registry


def _blob_homes(corpus: Corpus) -> dict[str, str]:
    """A repository holding each blob."""
    homes: dict[str, str] = {}
    for repo, media_type, raw in [*corpus.manifests, *[(r, m, x) for r, _, m, x in corpus.tags]]:
        for child in Manifest.parse(raw, media_type).children:
            if str(child.digest) in corpus.blobs:
                homes.setdefault(str(child.digest), repo)
    return homes


async def raw_read(host: str, homes: dict[str, str]) -> float:
    """Read and hash every unique blob once; seconds."""
    gate = asyncio.Semaphore(16)
    started = time.perf_counter()
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async def one(digest: str, repo: str) -> None:
            async with gate, s.get(f"http://{host}/v2/{repo}/blobs/{digest}") as r:
                h = hashlib.sha256()
                async for chunk in r.content.iter_chunked(1 << 18):
                    h.update(chunk)
                assert "sha256:" + h.hexdigest() == digest

        await asyncio.gather(*(one(d, r) for d, r in homes.items()))
    return time.perf_counter() - started


def raw_disk_write(directory: Path, total: int) -> float:
    """Write ``total`` bytes to a file and fsync; seconds."""
    block = os.urandom(1 << 20)
    path = directory / "raw-write.bin"
    started = time.perf_counter()
    with path.open("wb") as f:
        for _ in range(total >> 20):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - started
    path.unlink()
    return seconds


async def raw_registry_write(host: str, tar_path: Path) -> float:
    """Upload every blob of the tar to an empty registry, read by offset; seconds."""
    with tarfile.open(tar_path) as tar:
        blobs = [(m.name.split("/")[-1], m.offset_data, m.size) for m in tar
                 if m.name.startswith("blobs/")]
    gate = asyncio.Semaphore(16)
    started = time.perf_counter()
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async def one(hexdigest: str, offset: int, size: int) -> None:
            async def body() -> object:
                with tar_path.open("rb") as f:
                    f.seek(offset)
                    left = size
                    while left > 0:
                        chunk = f.read(min(1 << 20, left))
                        left -= len(chunk)
                        yield chunk

            async with gate:
                async with s.post(f"http://{host}/v2/raw/blobs/uploads/") as r:
                    location = r.headers["Location"]
                sep = "&" if "?" in location else "?"
                async with s.put(f"{location}{sep}digest=sha256:{hexdigest}", data=body(),
                                 headers={"Content-Length": str(size)}) as r:
                    r.raise_for_status()

        await asyncio.gather(*(one(*b) for b in blobs))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-mb", type=int, default=1000)
    parser.add_argument("--refs", type=int, default=100)
    parser.add_argument("--big-layer-mib", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relocator-tarbench-"))
    regs: list[Registry] = []
    rows: list[tuple[str, float, float, str]] = []
    try:
        src = start_registry(work / "src")
        regs.append(src)
        corpus = build(args.total_mb * MB, args.refs, 25)
        if args.big_layer_mib:
            _add_big_image(corpus, args.big_layer_mib)
        asyncio.run(seed(src.host, corpus))
        refs = [f"{src.host}/{repo}:{tag}" for repo, tag, _, _ in corpus.tags]
        homes = _blob_homes(corpus)
        unique = corpus.unique_bytes
        del corpus
        (work / "refs.txt").write_text("\n".join(refs) + "\n")
        print(f"corpus: {len(refs)} references, {unique / MB:.0f} MB unique", file=sys.stderr)

        os.sync()
        rows.append(("raw read (hashing)", asyncio.run(raw_read(src.host, homes)), 0, ""))
        os.sync()
        rows.append(("raw disk write", raw_disk_write(work, unique), 0, ""))
        tar_path = work / "out.tar"
        s, rss, p = timed([str(ROOT / ".venv/bin/relocator"), "pkg", "-f", str(work / "refs.txt"), "-o",
                           str(tar_path), "--json"], [])
        rows.append(("relocator pkg", s, rss, "" if p.returncode == 0 else p.stderr[-200:]))
        rows.append(("  pkg transfer phase (own report)", _reported_seconds(p), 0, ""))
        layout = work / "layout"
        loop = ("while read -r ref; do skopeo copy -q --all --src-tls-verify=false "
                f"docker://$ref oci:{layout}:${{ref##*/}} || exit 1; done < {work / 'refs.txt'}; "
                f"tar cf {work / 'skopeo.tar'} -C {layout} .")
        s, rss, p = timed(["bash", "-c", loop], [])
        rows.append(("skopeo copy to oci: layout + tar", s, rss,
                     "" if p.returncode == 0 else p.stderr[-200:]))

        for name in ("raw-dst", "unpkg-dst", "skopeo-dst"):
            regs.append(start_registry(work / name))
        os.sync()
        rows.append(("raw registry write", asyncio.run(raw_registry_write(regs[1].host, tar_path)), 0, ""))
        s, rss, p = timed([str(ROOT / ".venv/bin/relocator"), "unpkg", "-i", str(tar_path), "--prefix",
                           regs[2].host, "--json"], [])
        rows.append(("relocator unpkg", s, rss, "" if p.returncode == 0 else p.stderr[-200:]))
        rows.append(("  unpkg transfer phase (own report)", _reported_seconds(p), 0, ""))
        push = (f"while read -r ref; do name=${{ref##*/}}; "
                "skopeo copy -q --all --dest-tls-verify=false "
                f"oci:{layout}:$name docker://{regs[3].host}/${{ref#*/}} || exit 1; "
                f"done < {work / 'refs.txt'}")
        s, rss, p = timed(["bash", "-c", push], [])
        rows.append(("skopeo push loop from layout", s, rss, "" if p.returncode == 0 else p.stderr[-200:]))

        print("\n| row | wall s | MB/s (unique) | peak RSS MB |")
        print("|---|---|---|---|")
        for name, seconds, peak, error in rows:
            rss_text = f"{peak:.0f}" if peak else "-"
            print(f"| {name} | {seconds:.1f} | {unique / MB / seconds:.0f} | {rss_text} |"
                  + (f" FAILED: {error}" if error else ""))
        t = {name: seconds for name, seconds, _, _ in rows}
        pkg_limit = max(t["raw read (hashing)"], t["raw disk write"])
        pkg_s, unpkg_s = t["relocator pkg"], t["relocator unpkg"]
        pkg_phase = t["  pkg transfer phase (own report)"]
        unpkg_phase = t["  unpkg transfer phase (own report)"]
        print(f"\npkg: {pkg_limit / pkg_s:.0%} of its raw limit whole process, {pkg_limit / pkg_phase:.0%} "
              f"in its transfer phase; {t['skopeo copy to oci: layout + tar'] / pkg_s:.1f}x faster than "
              "skopeo + tar")
        print(f"unpkg: {t['raw registry write'] / unpkg_s:.0%} of its raw limit whole process, "
              f"{t['raw registry write'] / unpkg_phase:.0%} in its transfer phase; "
              f"{t['skopeo push loop from layout'] / unpkg_s:.1f}x faster than the skopeo loop")
    finally:
        for reg in regs:
            reg.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _reported_seconds(proc: subprocess.CompletedProcess[str]) -> float:
    """The transfer time a relocator --json report gives (after start-up and planning)."""
    try:
        return float(json.loads(proc.stdout)["throughput"]["seconds"])
    except (ValueError, KeyError):
        return float("nan")


def _add_big_image(corpus: Corpus, mib: int) -> None:
    import random

    layer = gzip_layer(random.Random(9), mib << 20)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **corpus.add_blob(config)},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **corpus.add_blob(layer)}]}
    corpus.tags.append(("big/layer", "v1", doc["mediaType"], json.dumps(doc).encode()))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
