"""Runs a Plan: each blob fetched once, bounded concurrency, children before parents, tags last."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from relocator.config import Limits
from relocator.errors import RelocatorError
from relocator.events import Outcome, Report, Reporter
from relocator.oci import Digest, Reference, Repository
from relocator.plan import Kind, Node, Plan, Target
from relocator.stores.base import BlobSink, BlobSource, Mounter

__all__ = ["Scheduler"]

Key = tuple[Repository, Digest]


@dataclass(slots=True)
class _Run:
    plan: Plan
    tasks: dict[Key, asyncio.Task[Outcome]] = field(default_factory=dict)
    # The first destination repository of each blob uploads it; the others mount from it.
    primary: dict[Digest, Repository] = field(default_factory=dict)


class Scheduler:
    """Copies a plan from a source store into a sink store."""

    def __init__(self, source: BlobSource, sink: BlobSink, limits: Limits, reporter: Reporter) -> None:
        self.source = source
        self.sink = sink
        self.limits = limits
        self.reporter = reporter
        self._slots = asyncio.Semaphore(limits.concurrency)

    async def run(self, plan: Plan) -> Report:
        """Copy every target; one failing image does not stop the others."""
        started = time.monotonic()
        report = Report(failed=dict(plan.failed))
        run = _Run(plan)
        wanted: dict[Key, Node] = {}
        for target in plan.targets:
            for digest in plan.closure(target.root):
                wanted[(target.destination.repository, digest)] = plan.nodes[digest]
        # Blobs start largest first; manifests are scheduled after and wait on their children.
        blobs = sorted((k for k, n in wanted.items() if n.kind is Kind.BLOB),
                       key=lambda k: (-wanted[k].descriptor.size, k[1], k[0]))
        for repo, digest in blobs:
            run.primary.setdefault(digest, repo)
        for key in blobs:
            run.tasks[key] = asyncio.ensure_future(self._blob(run, key, wanted[key], report))
        for target in plan.targets:
            for digest in plan.closure(target.root):
                key = (target.destination.repository, digest)
                if key not in run.tasks:
                    run.tasks[key] = asyncio.ensure_future(self._manifest(run, key, wanted[key], report))
        results = await asyncio.gather(*(self._image(run, t) for t in plan.targets),
                                       return_exceptions=True)
        for target, result in zip(plan.targets, results, strict=True):
            if isinstance(result, BaseException):
                report.failed[target.input.text] = str(result)
                self.reporter.image_done(target, str(result))
            else:
                report.done[target.input.text] = target.destination.with_tag(None)
                self.reporter.image_done(target, None)
        # Let every transfer settle so none is left running when the session closes.
        await asyncio.gather(*run.tasks.values(), return_exceptions=True)
        report.seconds = time.monotonic() - started
        return report

    async def _image(self, run: _Run, target: Target) -> None:
        await run.tasks[(target.destination.repository, target.root)]
        # Tags last: the image is complete by digest before any name points at it.
        if target.destination.tag is not None:
            manifest = run.plan.manifests[target.root]
            tagged = Reference(target.destination.repository, tag=target.destination.tag)
            await self.sink.write_manifest(tagged, manifest)

    async def _blob(self, run: _Run, key: Key, node: Node, report: Report) -> Outcome:
        repo, digest = key
        primary = run.primary[digest]
        if primary != repo:
            # Wait for the one upload of this digest, then mount it from there.
            try:
                await asyncio.shield(run.tasks[(primary, digest)])
            except RelocatorError:
                pass
        async with self._slots:
            outcome = await self._place_blob(run, repo, node, primary)
        report.count(outcome, node.descriptor.size)
        self.reporter.blob_done(node.descriptor, outcome)
        return outcome

    async def _place_blob(self, run: _Run, repo: Repository, node: Node, primary: Repository) -> Outcome:
        desc = node.descriptor
        # 1. What is there already is skipped, so a re-run moves no bytes.
        if await self.sink.has_blob(repo, desc):
            return Outcome.SKIPPED
        # 2. Mount from a repository of the same registry known to hold it: this run's
        #    primary upload, or a source repository on the destination's host.
        if isinstance(self.sink, Mounter):
            for origin in (primary, *sorted(node.origins)):
                if origin != repo and origin.registry == repo.registry and (
                        await self.sink.mount_blob(repo, desc, origin)):
                    return Outcome.MOUNTED
        # 3. Stream from a source repository straight into the sink.
        origin = sorted(node.origins)[0]
        await self.sink.write_blob(repo, desc, self.source.blob_opener(origin, desc))
        return Outcome.TRANSFERRED

    async def _manifest(self, run: _Run, key: Key, node: Node, report: Report) -> Outcome:
        repo, digest = key
        await _all(run.tasks[(repo, child)] for child in node.children)
        ref = Reference(repo, digest=digest)
        manifest = run.plan.manifests[digest]
        async with self._slots:
            if await self.sink.has_manifest(ref):
                return Outcome.SKIPPED
            await self.sink.write_manifest(ref, manifest)
        return Outcome.TRANSFERRED


async def _all(tasks: Iterable[asyncio.Task[Outcome]]) -> None:
    """Await every task; raise the first failure only after all have settled."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

