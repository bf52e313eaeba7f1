"""relocate under injected faults, and under load; figures for benchmarks/README.md.

    python -m benchmarks.faults faults [--rates 0.1 0.3] [--refs 100] [--total-mb 100] [--seed 1]
    python -m benchmarks.faults load [--refs 1000] [--layers 4]

``faults``: the corpus of ``compare.py`` is copied through a proxy in front of each registry that
fails a seeded share of requests, half with a 500, 502 or 503 answer and half with a reset
(before the answer, or halfway through a body); reports images relocated, digests identical to
the source's (HEAD of each tag, plain urllib), faults injected, relocator's retry lines, wall time.

``load``: REFS images of one config and LAYERS small layers each (1,000 x (1 + 4) = 5,000 blobs)
copied through a TCP relay that counts the connections open at once to the destination; reports
relocator's peak RSS (``ru_maxrss`` of the child) and that count against ``--concurrency`` + 4
(the pool's per-host size, registry/session.py). Nothing here asserts: benchmarks measure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.corpus import MB, OCI, Corpus, build, seed
from tests.randomfaults import RandomFaults
from tests.registries import Registry, start_registry

_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
           "application/vnd.docker.distribution.manifest.v2+json, "
           "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass
class ConnectionCounter:
    """A TCP relay to ``upstream`` counting connections open at once."""

    upstream: str
    open: int = 0
    most: int = 0
    port: int = 0
    server: asyncio.Server | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> ConnectionCounter:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.most = max(self.most, self.open)
        host, port = self.upstream.split(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                try:
                    while data := await src.read(1 << 16):
                        dst.write(data)
                        await dst.drain()
                finally:
                    dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)
        finally:
            self.open -= 1


def in_thread(make: object) -> tuple[object, asyncio.AbstractEventLoop]:
    """Start a proxy (``make``: a coroutine function returning it started) on its own loop."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    proxy = asyncio.run_coroutine_threadsafe(make(), loop).result()  # type: ignore[operator]
    return proxy, loop


def relocate(refs_file: Path, prefix: str, *extra: str) -> tuple[float, dict[str, object], str, int]:
    """Run relocate; wall seconds, its JSON report, stderr, and the peak RSS (KiB) of children."""
    import subprocess

    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "relocator", "relocate", "-f", str(refs_file), "--prefix",
                           prefix, "--json", *extra], capture_output=True, text=True)
    seconds = time.monotonic() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        report = {"error": proc.stdout[-300:]}
    return seconds, report, proc.stderr, rss


def relocated(report: dict[str, object]) -> int:
    """Images the JSON report lists without an error (its ``images`` is a list of entries)."""
    images = report.get("images", [])
    return sum(1 for image in images if isinstance(image, dict) and image.get("error") is None) \
        if isinstance(images, list) else 0


def digest_of(host: str, repo: str, tag: str) -> str:
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", method="HEAD",
                                 headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return str(resp.headers.get("Docker-Content-Digest", ""))
    except OSError:
        return ""


def run_faults(args: argparse.Namespace, work: Path, started: list[Registry]) -> None:
    src = start_registry(work / "source")
    started.append(src)
    corpus = build(args.total_mb * MB, args.refs, 25)
    asyncio.run(seed(src.host, corpus))
    tags = [(repo, tag) for repo, tag, _, _ in corpus.tags]
    print("| failure rate | images relocated | digests identical | faults injected (requests) "
          "| retry lines | wall time |")
    print("|---|---|---|---|---|---|")
    for rate in args.rates:
        dst = start_registry(work / f"dest-{rate}")
        started.append(dst)
        rng = random.Random(args.seed)
        front, loop = in_thread(lambda r=rate, g=rng: RandomFaults(src.host, r, g).start())
        back, back_loop = in_thread(lambda d=dst, r=rate, g=rng: RandomFaults(d.host, r, g).start())
        refs = work / f"refs-{rate}.txt"
        refs.write_text("".join(f"127.0.0.1:{front.port}/{r}:{t}\n" for r, t in tags))  # type: ignore[attr-defined]
        seconds, report, err, _ = relocate(refs, f"127.0.0.1:{back.port}")  # type: ignore[attr-defined]
        same = sum(digest_of(src.host, r, t) == digest_of(dst.host, r, t) != "" for r, t in tags)
        faults = front.faults + back.faults  # type: ignore[attr-defined]
        requests = front.requests + back.requests  # type: ignore[attr-defined]
        retries = len(re.findall(r"^relocator: WARNING: retrying ", err, re.M))
        print(f"| {rate:.0%} | {relocated(report)} of {len(tags)} | {same} of {len(tags)} "
              f"| {faults} ({requests}) | {retries} | {seconds:.1f} s |")
        for proxy, its_loop in ((front, loop), (back, back_loop)):
            asyncio.run_coroutine_threadsafe(proxy.stop(), its_loop).result()  # type: ignore[attr-defined]
            its_loop.call_soon_threadsafe(its_loop.stop)


def load_corpus(refs: int, layers: int) -> Corpus:
    """``refs`` single-platform OCI images, each with its own config and ``layers`` 1-4 KiB layers."""
    rng = random.Random(5)
    corpus = Corpus()
    for i in range(refs):
        blobs = [corpus.add_blob(rng.randbytes(rng.randint(1024, 4096))) for _ in range(layers)]
        config = corpus.add_blob(json.dumps({"architecture": "amd64", "os": "linux", "n": i}).encode())
        doc = {"schemaVersion": 2, "mediaType": OCI[0], "config": {"mediaType": OCI[2], **config},
               "layers": [{"mediaType": OCI[3], **b} for b in blobs]}
        corpus.tags.append((f"load/r{i % 50}", f"v{i}", OCI[0], json.dumps(doc).encode()))
    return corpus


def run_load(args: argparse.Namespace, work: Path, started: list[Registry]) -> None:
    src, dst = start_registry(work / "source"), start_registry(work / "dest")
    started += [src, dst]
    corpus = load_corpus(args.refs, args.layers)
    asyncio.run(seed(src.host, corpus))
    counter, loop = in_thread(lambda: ConnectionCounter(dst.host).start())
    refs = work / "refs.txt"
    refs.write_text("".join(f"{src.host}/{r}:{t}\n" for r, t, _, _ in corpus.tags))
    seconds, report, _, rss = relocate(refs, f"127.0.0.1:{counter.port}",  # type: ignore[attr-defined]
                                         "--concurrency", str(args.concurrency))
    print(f"| references | blobs | images relocated | wall time | peak RSS | most connections to the "
          f"destination (allowed: {args.concurrency + 4}) |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(corpus.tags)} | {len(corpus.blobs)} | {relocated(report)} "
          f"| {seconds:.1f} s | {rss / 1024:.0f} MB | {counter.most} |")  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    faults = sub.add_parser("faults")
    faults.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3])
    faults.add_argument("--refs", type=int, default=100)
    faults.add_argument("--total-mb", type=int, default=100)
    faults.add_argument("--seed", type=int, default=1)
    load = sub.add_parser("load")
    load.add_argument("--refs", type=int, default=1000)
    load.add_argument("--layers", type=int, default=4)
    load.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relocator-faults-"))
    started: list[Registry] = []
    try:
        (run_faults if args.mode == "faults" else run_load)(args, work, started)
    finally:
        for reg in started:
            reg.stop()


if __name__ == "__main__":
    main()
