"""The measurements behind `relocator bench`: push, HEAD, pull, mount, copy and manifest phases
over a concurrency sweep, timed per request, and zb's mixed-size batches (commands.scenarios)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

from relocator.commands.benchdata import GC_NOTE, BenchBlob, Ledger, cleanup, make_blob, side_repositories
from relocator.commands.benchoptions import MAX_COUNT, BenchOptions, validate
from relocator.commands.common import open_client
from relocator.commands.scenarios import mixed_name, mixed_sizes, scenario_name
from relocator.config import Settings
from relocator.errors import RegistryError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci import mediatypes as mt
from relocator.registry import RegistryClient
from relocator.registry.tracing import Timings
from relocator.stats import PhaseResult

__all__ = ["BenchOptions", "BenchReport", "bench", "validate"]

_EMPTY_CONFIG = b"{}"
# Phases whose work is requests, not bytes: they report requests/s and latencies, no MB/s.
_REQUEST_PHASES = frozenset({"head", "mount", "manifest put", "manifest get"})


@dataclass(slots=True)
class BenchReport:
    """Rows in the order measured, notes for the user (cleanup, refusals), the blobs kept in the
    user's repository (``--keep``), and the repositories written: ``{"repository", "mount", "copy"}``."""

    results: list[PhaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept: list[Descriptor] = field(default_factory=list)
    repositories: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False  # SIGINT or SIGTERM: ``results`` holds the phases that finished


Op = Callable[[BenchBlob], Awaitable[int]]


async def _phase(name: str, blobs: list[BenchBlob], concurrency: int, op: Op, timings: Timings,
                 size: int, scenario: str = "") -> PhaseResult:
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
                       tuple(latencies), waits, errors[0] if errors else "", scenario,
                       name not in _REQUEST_PHASES)


@dataclass(slots=True)
class _Run:
    """One bench run's state: the client, where it writes, what it wrote, how to make blobs."""

    client: RegistryClient
    options: BenchOptions
    repo: Repository
    mount_repo: Repository
    copy_repo: Repository
    timings: Timings
    config: Descriptor
    on_result: Callable[[PhaseResult], None] | None = None
    ledger: Ledger = field(default_factory=Ledger)
    nonce: bytes = field(default_factory=lambda: os.urandom(8))
    index: int = 0
    rows: list[PhaseResult] = field(default_factory=list)  # every phase measured, as it finishes

    def row(self, result: PhaseResult) -> None:
        """Keep a finished phase's row (and hand it to ``on_result``)."""
        self.rows.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def fresh(self, sizes: list[int]) -> list[BenchBlob]:
        """New blobs of these sizes, none of them ever pushed before."""
        self.index += len(sizes)
        return [make_blob(size, self.index - len(sizes) + i, self.nonce) for i, size in enumerate(sizes)]

    def pusher(self) -> Op:
        chunk = None if self.options.upload == "monolithic" else self.options.chunk_size

        async def push(b: BenchBlob) -> int:
            # A chunked push without --chunk-size is zb's: one PATCH with the whole blob.
            size = (chunk or b.desc.size) if self.options.upload == "chunked" else None
            await self.client.push_blob(self.repo, b.desc, b.chunks, chunk_size=size)
            self.ledger.blob(self.repo, b.desc)
            return b.desc.size

        return push

    async def measure(self, conc: int, size: int) -> None:
        """Every phase at one blob size and concurrency, each over the same fresh blobs."""
        count = self.options.count
        if self.options.duration is not None:
            # Size the batch from one timed push so the push phase lasts about --duration.
            started = time.perf_counter()
            await _phase("probe", self.fresh([size] * conc), conc, self.pusher(), self.timings, size)
            per_batch = max(time.perf_counter() - started, 1e-3)
            count = max(conc, min(MAX_COUNT, int(self.options.duration / per_batch * conc)))
        blobs = self.fresh([size] * count)
        for name, op in self.phases().items():
            if name == "pull":
                # A registry on this machine may still be writing back what the push phase stored;
                # flush first so the pull is not measured against the disk (harmless when remote).
                await asyncio.to_thread(os.sync)
            scenario = scenario_name(name, size, self.options.upload, self.options.chunk_size)
            self.row(await _phase(name, blobs, conc, op, self.timings, size, scenario))

    def phases(self) -> dict[str, Op]:
        client, repo = self.client, self.repo
        manifests: dict[Digest, Manifest] = {}

        async def head(b: BenchBlob) -> int:
            if await client.head_blob(repo, b.desc.digest) is None:
                raise RegistryError(f"{repo}: blob {b.desc.digest} missing after push")
            return 0

        async def mount(b: BenchBlob) -> int:
            result = await client.mount_blob(self.mount_repo, b.desc.digest, repo)
            if not result.mounted:
                if result.location is not None:  # the 202's fresh upload session: not used
                    await client.uploader.cancel(self.mount_repo, result.location)
                raise RegistryError(f"{repo.registry} declined to mount {b.desc.digest} "
                                    f"into {self.mount_repo}")
            self.ledger.blob(self.mount_repo, b.desc)
            return 0

        async def copy(b: BenchBlob) -> int:
            # What a copy does when it cannot mount: read from one repository, stream into another.
            await client.push_blob(self.copy_repo, b.desc, client.blob_opener(repo, b.desc))
            self.ledger.blob(self.copy_repo, b.desc)
            return b.desc.size

        async def put_manifest(b: BenchBlob) -> int:
            raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                              "config": self.config.to_json(), "layers": [b.desc.to_json()]}).encode()
            m = Manifest.parse(raw, mt.OCI_MANIFEST)
            manifests[b.desc.digest] = m
            await client.put_manifest(Reference(repo, digest=m.digest), m)
            self.ledger.manifest(repo, m.digest)
            return len(raw)

        async def get_manifest(b: BenchBlob) -> int:
            m = await client.get_manifest(Reference(repo, digest=manifests[b.desc.digest].digest))
            return len(m.raw)

        return {"push": self.pusher(), "head": head, "pull": self.puller(), "mount": mount, "copy": copy,
                "manifest put": put_manifest, "manifest get": get_manifest}

    def puller(self) -> Op:
        async def pull(b: BenchBlob) -> int:
            got = 0
            async with self.client.open_blob(self.repo, b.desc) as chunks:
                async for piece in chunks:
                    got += len(piece)
            return got

        return pull

    async def mixed(self, conc: int) -> None:
        """zb's mixed batches: a push of ``--count`` blobs in its shares of 1, 10 and 100 MiB, then
        a pull of ``--count`` in its pull shares, each size's pushed blobs pulled in turn."""
        pushed = self.fresh(mixed_sizes(self.options.upload, self.options.count))
        name = mixed_name(self.options.upload)
        self.row(await _phase("push", pushed, conc, self.pusher(), self.timings, 0, name))
        by_size: dict[int, list[BenchBlob]] = {}
        for b in pushed:
            by_size.setdefault(b.desc.size, []).append(b)
        turn: dict[int, int] = {}
        pulls = []
        for size in mixed_sizes("pull", self.options.count):
            pool = by_size.get(size) or pushed  # a share too small to have been pushed
            pulls.append(pool[turn.get(size, 0) % len(pool)])
            turn[size] = turn.get(size, 0) + 1
        await asyncio.to_thread(os.sync)
        self.row(await _phase("pull", pulls, conc, self.puller(), self.timings, 0, mixed_name("pull")))

    async def everything(self) -> None:
        """The preflight, then every measurement in the order asked for (``bench``)."""
        client, repo, options = self.client, self.repo, self.options
        # Preflight: a push session proves the registry answers and grants push, before any blob.
        location = await client.uploader.start(repo)
        await client.uploader.cancel(repo, location)
        # The empty config may be the user's too (any artifact's): deleted only if bench added it.
        if await client.head_blob(repo, self.config.digest) is None:
            await client.push_blob(repo, self.config, lambda offset: _once(_EMPTY_CONFIG[offset:]))
            self.ledger.blob(repo, self.config)
        for size in options.blob_sizes:
            for conc in options.concurrency:
                if options.warmup:
                    warm = self.fresh([size] * options.warmup)
                    await _phase("warmup", warm, conc, self.pusher(), self.timings, size)
                await self.measure(conc, size)
        for conc in options.concurrency if options.mixed else ():
            await self.mixed(conc)


async def bench(settings: Settings, options: BenchOptions,
                on_result: Callable[[PhaseResult], None] | None = None) -> BenchReport:
    """Measure every phase for each blob size and concurrency, in the order given, then zb's
    mixed batches if asked; delete what was written unless ``keep`` (one note per repository,
    and that the space comes back at the registry's garbage collection).

    Interrupted (SIGINT, SIGTERM: the task is cancelled, commands.signals), it stops measuring,
    still deletes what it wrote and returns the rows finished, with ``interrupted`` set; the
    caller reports them and lets the cancellation go on. A second signal cuts the clean-up short.

    Raises InputError (before any traffic) for bad options; RegistryError when the registry
    refuses the first push session (no push rights); a failed request is counted in its row."""
    repo, copy_to = validate(options)
    mount_repo, copy_repo = side_repositories(repo, copy_to)
    width = max(options.concurrency)
    settings = replace(settings, limits=replace(settings.limits, concurrency=width))
    timings = Timings()
    report = BenchReport(repositories={"repository": str(repo), "mount": str(mount_repo),
                                       "copy": str(copy_repo)})
    config = Descriptor(mt.OCI_EMPTY, Digest.of(_EMPTY_CONFIG), len(_EMPTY_CONFIG))
    async with open_client(settings, timings, options.credentials) as client:
        run = _Run(client, options, repo, mount_repo, copy_repo, timings, config, on_result)
        try:
            await run.everything()
        except asyncio.CancelledError:
            # Benchmark blobs are the user's clutter: an interrupted run deletes them too.
            report.interrupted = True
        report.results = run.rows
        if options.keep:
            report.kept = list(run.ledger.blobs.get(repo, ()))
            where = ", ".join(map(str, run.ledger.blobs))
            report.notes.append(f"kept the benchmark blobs and manifests in {where}")
        elif run.ledger.blobs or run.ledger.manifests:
            report.notes += [*await cleanup(client, run.ledger), GC_NOTE]
    return report


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
