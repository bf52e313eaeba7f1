"""Runs a Plan: each blob fetched once, bounded concurrency, children before parents, tags last.

A referrer's manifest is written after its subject's; then, for a sink that ``KeepsReferrers``,
it is linked to the subject (a fallback list, a legacy tag, an index.json entry). An image is done
when its manifests and every referrer of them are in place: its tag is written after them, so a
verifier that finds the tag finds the signatures too.

How one blob gets into the sink (skipped, mounted or streamed) is engine.placement's; this
module decides when: slots, order, single flight, and what a failure takes with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from relocator.config import Limits
from relocator.engine.events import Outcome, Report, Reporter
from relocator.engine.ordering import (
    Key,
    image_order,
    image_ranks,
    mount_origins,
    primaries,
    transfer_order,
)
from relocator.engine.placement import BlobPlacer
from relocator.engine.plan import Node, Plan
from relocator.engine.platforms import sparse_refused
from relocator.engine.slots import PrioritySlots
from relocator.engine.survivors import Survivors
from relocator.engine.target import Target
from relocator.errors import InputError, RegistryError, RelocatorError
from relocator.oci import Digest, Reference, Repository
from relocator.oci.referrers import Referrer
from relocator.stores.base import Abandons, BlobSink, BlobSource, KeepsReferrers, RecordsOmitted
from relocator.stores.budget import ByteBudget, SharesBudget

__all__ = ["SETTLE_SECONDS", "ByteBudget", "Scheduler", "image_order", "mount_origins", "primaries",
           "transfer_order"]

Link = tuple[Repository, Digest, Digest]  # where, subject, referrer

# A manifest or referrer link waiting for a slot goes before every queued blob (engine.slots).
_FIRST = -1

# Once a run is interrupted, how long (seconds) transfers already under way get to finish: a
# blob whose last bytes are arriving lands (a resumed pkg keeps it), a stalled one is not waited for.
SETTLE_SECONDS = 2.0


@dataclass(slots=True)
class _Run:
    plan: Plan
    report: Report
    tasks: dict[Key, asyncio.Task[Outcome]] = field(default_factory=dict)
    links: dict[Link, asyncio.Task[None]] = field(default_factory=dict)
    primary: dict[Digest, Repository] = field(default_factory=dict)  # see primaries()
    survivors: Survivors | None = None  # for a sink that Abandons
    started: set[Key] = field(default_factory=set)  # holding a slot: writing, or about to
    rank: dict[Key, int] = field(default_factory=dict)  # each blob placement's place in the order
    owners: dict[Key, list[Target]] = field(default_factory=dict)  # the images each placement is for
    begun: set[str] = field(default_factory=set)  # images with a placement started (image_started)


class Scheduler:
    """Copies a plan from a source store into a sink store."""

    def __init__(self, source: BlobSource, sink: BlobSink, limits: Limits, reporter: Reporter,
                 *, fail_fast: bool = False) -> None:
        self.source = source
        self.sink = sink
        self.limits = limits
        self.reporter = reporter
        self.fail_fast = fail_fast
        self._slots: dict[str, PrioritySlots] = {}
        # One budget per run: a sink that spools for a writer (the tar stream) counts its spool
        # against it too, and admits blobs in the order its writer takes them.
        budget = sink.budget if isinstance(sink, SharesBudget) else ByteBudget(limits.bytes_in_flight)
        self._placer = BlobPlacer(source, sink, budget, reporter)

    def _slot(self, repo: Repository) -> PrioritySlots:
        """Concurrency is bounded per destination registry host."""
        return self._slots.setdefault(repo.registry, PrioritySlots(self.limits.concurrency))

    async def run(self, plan: Plan, report: Report | None = None) -> Report:
        """Copy every target into ``report`` (a new one if None); one failing image does not stop
        the others unless fail_fast.

        Cancelled (SIGINT, SIGTERM), the run stops scheduling: what has not started never does,
        transfers under way get SETTLE_SECONDS to finish, then they are cancelled too and the
        CancelledError goes on. ``report`` then holds what finished; no tag was written after.
        """
        started = time.monotonic()
        run = _Run(plan, report if report is not None else Report())
        run.report.failed.update(plan.failed)
        run.report.notes += plan.notes
        if isinstance(self.sink, Abandons):
            run.survivors = Survivors(plan)
        wanted = plan.placements()
        order = self._order(plan, wanted)
        for target in plan.targets:
            for digest in plan.closure(target.root):
                run.owners.setdefault((target.destination.repository, digest), []).append(target)
        unique = {k[1]: wanted[k].descriptor.size for k in order}
        self.reporter.plan_ready(plan.targets, sum(unique.values()), len(order))
        run.primary = primaries(order)
        run.rank = {key: i for i, key in enumerate(order)}
        for key in order:
            run.tasks[key] = asyncio.ensure_future(self._blob(run, key, wanted[key]))
        for key, node in wanted.items():
            if key not in run.tasks:
                run.tasks[key] = asyncio.ensure_future(self._manifest(run, key, node))
        for (repo, digest) in wanted:
            for referrer in plan.referrers.get(digest, {}).values():
                if (repo, referrer.digest) in wanted:
                    run.links[(repo, digest, referrer.digest)] = asyncio.ensure_future(
                        self._link(run, repo, digest, referrer))
        images = [asyncio.ensure_future(self._image(run, t)) for t in plan.targets]
        try:
            if self.fail_fast and images:
                done, _ = await asyncio.wait(images, return_when=asyncio.FIRST_EXCEPTION)
                if any(not t.cancelled() and t.exception() for t in done):
                    for task in [*images, *run.tasks.values(), *run.links.values()]:
                        task.cancel()
                    for target in plan.targets:
                        if target.label not in run.report.done:
                            run.report.failed.setdefault(target.label,
                                                         "cancelled: another image failed (--fail-fast)")
            await asyncio.gather(*images, return_exceptions=True)
        except asyncio.CancelledError:
            await _settle(run)
            raise
        finally:
            # Let every transfer settle so none is left running when the session closes.
            await asyncio.gather(*run.tasks.values(), *run.links.values(), return_exceptions=True)
            run.report.seconds = time.monotonic() - started
        return run.report

    def _order(self, plan: Plan, wanted: dict[Key, Node]) -> list[Key]:
        """``Limits.order``; a sink that shares its budget (the tar stream) writes blobs largest
        first (stores.tarwriter), so it keeps that order: others would wait in its spool."""
        if self.limits.order == "image" and not isinstance(self.sink, SharesBudget):
            return image_order(wanted, image_ranks(plan))
        return transfer_order(wanted)

    async def _image(self, run: _Run, target: Target) -> None:
        repo = target.destination.repository
        try:
            # Shielded: cancelling an image (fail-fast, an interrupt) leaves its transfers, which
            # other images may share, to the run.
            await asyncio.shield(run.tasks[(repo, target.root)])
            await _all(run.links[(repo, d, r)] for d in run.plan.closure(target.root)
                       for r in run.plan.referrers.get(d, ()))
            omitted = run.plan.omitted_under(target.root)
            if omitted and isinstance(self.sink, RecordsOmitted):
                self.sink.record_omitted(target.root, omitted)  # a sparse index, said so in the layout
            # Tags last: the image is complete by digest before any name points at it.
            await self.sink.write_tag(target.destination, run.plan.manifests[target.root])
        except Exception as exc:  # a bug must fail the image, not vanish in gather
            why = str(exc) if isinstance(exc, RelocatorError) else f"internal error: {exc!r}"
            run.report.failed[target.label] = why
            if isinstance(exc, InputError):
                run.report.bad_input.add(target.label)
            self.reporter.image_done(target, why)
            if run.survivors is not None:
                self._abandon(run.survivors.lose_image(target.label))
            raise
        run.report.done[target.label] = target.destination.with_tag(None)
        self.reporter.image_done(target, None)

    async def _blob(self, run: _Run, key: Key, node: Node) -> Outcome:
        repo, digest = key
        primary = run.primary[digest]
        if primary != repo:
            # Wait for the one upload of this digest, then mount it from there.
            try:
                await asyncio.shield(run.tasks[(primary, digest)])
            except RelocatorError:
                pass
        try:
            async with self._slot(repo).hold(run.rank[key]):
                run.started.add(key)
                for target in run.owners.get(key, ()):
                    if target.label not in run.begun:  # the image's first placement: in flight
                        run.begun.add(target.label)
                        self.reporter.image_started(target)
                outcome, moved = await self._placer.place(repo, node, primary)
        except Exception:
            if run.survivors is not None:
                # At once, before this failure reaches any image: the sink learns everything lost
                # with this blob together (the tar stream's writer must not move past it before).
                self._abandon(run.survivors.lose_digest(digest))
            raise
        run.report.count(outcome, moved)
        self.reporter.blob_done(node.descriptor, outcome)
        return outcome

    def _abandon(self, digests: set[Digest]) -> None:
        if digests and isinstance(self.sink, Abandons):
            self.sink.abandon(digests)

    async def _manifest(self, run: _Run, key: Key, node: Node) -> Outcome:
        repo, digest = key
        await _all(run.tasks[(repo, child)] for child in node.children)
        if node.follows is not None and (repo, node.follows) in run.tasks:
            await _all([run.tasks[(repo, node.follows)]])  # a referrer after its subject
        ref = Reference(repo, digest=digest)
        manifest = run.plan.manifests[digest]
        async with self._slot(repo).hold(_FIRST):  # its children are in: finish the image
            run.started.add(key)
            if await self.sink.has_manifest(ref):
                return Outcome.SKIPPED
            try:
                await self.sink.write_manifest(ref, manifest)
            except RegistryError as exc:
                if run.plan.omitted.get(digest) and exc.status == 400:
                    raise sparse_refused(repo, digest, exc) from exc
                raise
        return Outcome.TRANSFERRED

    async def _link(self, run: _Run, repo: Repository, subject: Digest, referrer: Referrer) -> None:
        """Once the referrer's manifest is in ``repo``, make it findable from its subject there."""
        try:
            await _all([run.tasks[(repo, referrer.digest)]])
            if isinstance(self.sink, KeepsReferrers):
                async with self._slot(repo).hold(_FIRST):
                    note = await self.sink.add_referrer(Reference(repo, digest=subject), referrer,
                                                        run.plan.manifests[referrer.digest])
                if note is not None and note not in run.report.notes:
                    run.report.notes.append(note)
        except RelocatorError as exc:
            raise RelocatorError(f"referrer {referrer.digest} of {subject}: {exc}") from exc
        run.report.referrers += 1


async def _settle(run: _Run) -> None:
    """Stop scheduling: cancel every transfer that has not started, give those under way
    SETTLE_SECONDS, then cancel what is left (also when this wait is itself cancelled)."""
    under_way = []
    try:
        for key, task in run.tasks.items():
            if key in run.started:
                under_way.append(task)
            else:
                task.cancel()
        if under_way:
            await asyncio.wait(under_way, timeout=SETTLE_SECONDS)
    finally:
        for pending in [*run.tasks.values(), *run.links.values()]:
            pending.cancel()


async def _all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Await every task; raise the first failure only after all have settled. Shielded: a
    manifest cancelled (an interrupt) leaves its children, which others may share, to the run."""
    results = await asyncio.gather(*(asyncio.shield(t) for t in tasks), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result

