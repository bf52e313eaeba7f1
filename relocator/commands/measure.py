"""The measurements behind `relocator bench`: push, pull, HEAD, mount and manifest phases over a
concurrency sweep, timed per request."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace

from relocator.commands.benchoptions import MAX_COUNT, BenchOptions, validate
from relocator.commands.common import open_client
from relocator.config import Settings
from relocator.errors import RegistryError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci import mediatypes as mt
from relocator.registry import RegistryClient
from relocator.registry.tracing import Timings
from relocator.stats import PhaseResult

__all__ = ["BenchReport", "bench"]

MiB = 1024 * 1024
_EMPTY_CONFIG = b"{}"


@dataclass(slots=True)
class BenchReport:
    """Rows in the order measured, and notes for the user (cleanup, refusals)."""

    results: list[PhaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept: list[Descriptor] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Blob:
    desc: Descriptor
    seed: bytes

    def chunks(self, offset: int = 0) -> AsyncIterator[bytes]:
        return _content(self.seed, self.desc.size, offset)


_BLOCK = hashlib.shake_256(b"relocator-bench").digest(MiB)


def _pieces(seed: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of a blob: a per-blob header, then a repeated block (no PRNG per byte)."""
    pos = 0
    while pos < size:
        piece = (seed + _BLOCK[len(seed):]) if pos == 0 else _BLOCK
        piece = piece[: size - pos]
        yield pos, piece
        pos += len(piece)


async def _content(seed: bytes, size: int, offset: int) -> AsyncIterator[bytes]:
    for pos, piece in _pieces(seed, size):
        if pos + len(piece) > offset:
            yield piece[max(0, offset - pos):]


def _make_blob(size: int, index: int, nonce: bytes) -> _Blob:
    seed = nonce + index.to_bytes(8, "big")
    h = hashlib.sha256()
    for _, piece in _pieces(seed, size):
        h.update(piece)
    return _Blob(Descriptor("application/octet-stream", Digest("sha256", h.hexdigest()), size), seed)


Op = Callable[[_Blob], Awaitable[int]]


async def _phase(name: str, blobs: list[_Blob], concurrency: int, op: Op, timings: Timings,
                 size: int) -> PhaseResult:
    """Run ``op`` over ``blobs`` with ``concurrency`` workers; time each and the whole."""
    queue = list(reversed(blobs))
    latencies: list[float] = []
    errors: list[str] = []
    moved = 0

    async def worker() -> None:
        nonlocal moved
        while queue:
            blob = queue.pop()
            started = time.perf_counter()
            try:
                n = await op(blob)  # not `moved += await ...`: that reads moved before the await
                moved += n
                latencies.append(time.perf_counter() - started)
            except RelocatorError as exc:
                errors.append(str(exc))

    timings.take()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    waits = tuple(t.queued for t in timings.take())
    return PhaseResult(name, size, concurrency, len(latencies), len(errors), moved, seconds,
                       tuple(latencies), waits, errors[0] if errors else "")


async def bench(settings: Settings, options: BenchOptions,
                on_result: Callable[[PhaseResult], None] | None = None) -> BenchReport:
    """Measure every phase for each blob size and concurrency, in the order given."""
    repo = validate(options)
    width = max(options.concurrency)
    settings = replace(settings, limits=replace(settings.limits, concurrency=width))
    timings = Timings()
    report = BenchReport()
    nonce = os.urandom(8)
    async with open_client(settings, timings, options.credentials) as client:
        # Preflight: a push session proves the registry answers and grants push, before any blob.
        location = await client.uploader.start(repo)
        await client.uploader.cancel(repo, location)
        chunk = options.chunk_size if options.upload == "chunked" else None
        config = Descriptor(mt.OCI_EMPTY, Digest.of(_EMPTY_CONFIG), len(_EMPTY_CONFIG))
        await client.push_blob(repo, config, lambda offset: _once(_EMPTY_CONFIG[offset:]))
        index = 0
        pushed: list[_Blob] = []
        for size in options.blob_sizes:
            for conc in options.concurrency:
                def fresh(n: int, size: int = size) -> list[_Blob]:
                    nonlocal index
                    index += n
                    return [_make_blob(size, index - n + i, nonce) for i in range(n)]

                if options.warmup:
                    warm = fresh(options.warmup)
                    await _phase("warmup", warm, conc, _pusher(client, repo, chunk), timings, size)
                    pushed += warm
                rows, blobs = await _measure(client, repo, chunk, conc, size, options, fresh, timings,
                                             config)
                pushed += blobs
                for row in rows:
                    report.results.append(row)
                    if on_result is not None:
                        on_result(row)
        if options.keep:
            report.kept = [b.desc for b in pushed]
            report.notes.append(f"kept {len(pushed)} benchmark blobs in {repo}")
        else:
            report.notes += await _cleanup(client, repo, pushed)
    return report


async def _measure(client: RegistryClient, repo: Repository, chunk: int | None, conc: int, size: int,
                   options: BenchOptions, fresh: Callable[[int], list[_Blob]], timings: Timings,
                   config: Descriptor) -> tuple[list[PhaseResult], list[_Blob]]:
    count = options.count
    probe: list[_Blob] = []
    if options.duration is not None:
        # Size the batch from one timed push so the push phase lasts about --duration.
        probe = fresh(conc)
        started = time.perf_counter()
        await _phase("probe", probe, conc, _pusher(client, repo, chunk), timings, size)
        per_batch = max(time.perf_counter() - started, 1e-3)
        count = max(conc, min(MAX_COUNT, int(options.duration / per_batch * conc)))
    blobs = fresh(count)
    mount_repo = Repository(repo.registry, f"{repo.path}-mount")
    manifests: dict[Digest, Manifest] = {}

    async def head(b: _Blob) -> int:
        if await client.head_blob(repo, b.desc.digest) is None:
            raise RegistryError(f"{repo}: blob {b.desc.digest} missing after push")
        return 0

    async def pull(b: _Blob) -> int:
        got = 0
        async with client.open_blob(repo, b.desc) as chunks:
            async for piece in chunks:
                got += len(piece)
        return got

    async def mount(b: _Blob) -> int:
        result = await client.mount_blob(mount_repo, b.desc.digest, repo)
        if not result.mounted:
            raise RegistryError(f"{repo.registry} declined to mount {b.desc.digest} into {mount_repo}")
        return 0

    async def put_manifest(b: _Blob) -> int:
        raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                          "config": config.to_json(), "layers": [b.desc.to_json()]}).encode()
        m = Manifest.parse(raw, mt.OCI_MANIFEST)
        manifests[b.desc.digest] = m
        await client.put_manifest(Reference(repo, digest=m.digest), m)
        return len(raw)

    async def get_manifest(b: _Blob) -> int:
        m = await client.get_manifest(Reference(repo, digest=manifests[b.desc.digest].digest))
        return len(m.raw)

    phases: list[tuple[str, Op]] = [("push", _pusher(client, repo, chunk)), ("head", head),
                                    ("pull", pull), ("mount", mount), ("manifest put", put_manifest),
                                    ("manifest get", get_manifest)]
    rows = []
    for name, op in phases:
        if name == "pull":
            # A registry on this machine may still be writing back what the push phase stored;
            # flush first so the pull is not measured against the disk (harmless when remote).
            await asyncio.to_thread(os.sync)
        rows.append(await _phase(name, blobs, conc, op, timings, size))
    return rows, probe + blobs


def _pusher(client: RegistryClient, repo: Repository, chunk: int | None) -> Op:
    async def push(b: _Blob) -> int:
        await client.push_blob(repo, b.desc, b.chunks, chunk_size=chunk)
        return b.desc.size

    return push


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _cleanup(client: RegistryClient, repo: Repository, blobs: list[_Blob]) -> list[str]:
    """Delete what bench pushed; say so where the registry does not allow it."""
    refused: list[str] = []
    for b in blobs:
        try:
            await client.delete_blob(repo, b.desc.digest)
        except RelocatorError as exc:
            refused.append(str(exc))
    if not refused:
        return [f"deleted {len(blobs)} benchmark blobs from {repo}"]
    return [f"could not delete {len(refused)} of {len(blobs)} benchmark blobs from {repo} "
            f"(the registry may not allow deletes): {refused[0]}"]

