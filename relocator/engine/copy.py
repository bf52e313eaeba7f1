"""``copy``: the one entry point every verb runs: plan, prepare the sink, schedule, commit or discard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence

from relocator.config import Limits
from relocator.engine.events import Outcome, Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.platforms import ALL_PLATFORMS, PlatformSelection
from relocator.engine.referrers import NONE, ReferrerPolicy
from relocator.engine.scheduler import Scheduler
from relocator.engine.sharding import shard_plan
from relocator.engine.survivors import kept_digests
from relocator.engine.target import ImageInput, Target
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Reference
from relocator.stores.base import BlobSink, BlobSource, Commits, KeepsPartial, Preflight

__all__ = ["copy"]


async def copy(
    source: BlobSource,
    sink: BlobSink,
    inputs: Iterable[ImageInput],
    destination: Callable[[Reference], Reference],
    limits: Limits,
    reporter: Reporter,
    *,
    include_non_distributable: bool = False,
    fail_fast: bool = False,
    shard: tuple[int, int] | None = None,
    referrers: ReferrerPolicy = NONE,
    platforms: PlatformSelection = ALL_PLATFORMS,
    report: Report | None = None,
) -> tuple[Plan, Report]:
    """Copy every input image from ``source`` into ``sink`` under ``destination(pinned ref)``.

    Images that cannot be planned or copied are failed in the report, the others go on, and the
    sink commits the images that finished (``close(keep)``): a tarball or layout holds every image
    that could be fetched. With ``fail_fast`` the run is all or nothing: the first failure stops
    it (one at planning: nothing starts) and the sink commits nothing. For a sink that
    ``Commits``, an image is reported done only once the commit is, and ``Report.output``/
    ``written`` say where and whether it was; a failed commit fails those images with its reason.
    ``shard`` ``(I, N)`` keeps shard I of N of the plan (engine.sharding: images sharing blobs
    stay together). ``referrers`` says which referrers of the images travel with them
    (engine.referrers; an input's own policy wins), placed next to their subjects; ``platforms``
    which entries of each index (engine.platforms; an input's own selection wins). Raises
    InputError before any blob moves from a source that checks the plan (stores.base.Preflight:
    a tarball or layout whose images cannot all be planned, or that lacks a blob) and from
    ``sink.prepare``.

    ``report`` (a new one if None) is filled in as the run goes. Cancelled (SIGINT, SIGTERM), the
    scheduler lets writes under way settle, the sink commits nothing (keeping a partial file for
    a resume, named in the notes), and CancelledError goes on with ``report`` saying what
    finished (``interrupted``, ``unfinished``).
    """
    report = Report() if report is None else report
    items = list(inputs)
    report.images = list(dict.fromkeys(i.text for i in items))
    output = sink.location if isinstance(sink, Commits) else None
    report.output = output
    held = _Held(reporter) if output is not None else None
    plan = Plan()
    closed = False
    try:
        plan = await build_plan(source, items, destination,
                                include_non_distributable=include_non_distributable, referrers=referrers,
                                platforms=platforms)
        if shard is not None:
            plan = shard_plan(plan, *shard)
            report.images = [*(t.label for t in plan.targets), *plan.failed]
        report.targets = {t.label: t for t in plan.targets}
        if isinstance(source, Preflight):  # a broken archive is bad input, before anything moves
            source.preflight(plan.failed, _needs(plan))
        report.failed.update(plan.failed)
        if fail_fast and plan.failed:
            for target in plan.targets:
                report.failed.setdefault(target.label, "not started: another image failed (--fail-fast)")
            return plan, report
        wanted = plan.placements().values()
        await sink.prepare([n.descriptor for n in wanted if n.kind is Kind.BLOB],
                           [plan.manifests[n.digest] for n in wanted if n.kind is not Kind.BLOB])
        await Scheduler(source, sink, limits, held or reporter, fail_fast=fail_fast).run(plan, report)
        closed = True  # _commit closes the sink, once, whatever happens in it
        await _commit(sink, plan, report, held, all_or_nothing=fail_fast)
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        if not closed:
            # Interrupted, refused, or the sink could not be prepared: the sink discards, or
            # keeps a partial file for a resume, never commits.
            await sink.close(None)
        reporter.close()
        if isinstance(sink, KeepsPartial) and sink.kept is not None:
            report.notes.append(f"{sink.kept} kept: the same command run again resumes from it")
    return plan, report


async def _commit(sink: BlobSink, plan: Plan, report: Report, held: _Held | None, *,
                  all_or_nothing: bool) -> None:
    """Close the sink keeping what the finished images need (nothing if none finished, or if any
    failed and the run is all or nothing); then report the held images done, or failed with the
    commit's reason."""
    commit = bool(report.done) and not (all_or_nothing and report.failed)
    try:
        await sink.close(kept_digests(plan, set(report.done)) if commit else None)
    except RelocatorError as exc:
        if held is None:
            raise
        _unwritten(report, held, f"not written: {exc}")
        return
    if held is None:
        return
    if not commit:
        _unwritten(report, held, "not written: another image failed (--fail-fast)")
        return
    report.written = True
    for target in held.targets:
        held.inner.image_done(target, None)


def _unwritten(report: Report, held: _Held, why: str) -> None:
    """The held images did not reach the output: failed, with ``why``."""
    for target in held.targets:
        del report.done[target.label]
        report.failed[target.label] = why
        held.inner.image_done(target, why)


class _Held:
    """A reporter in front of ``inner`` that holds back each image's success until the commit:
    a ``done`` line names only an image really in the finished file."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner
        self.targets: list[Target] = []

    def plan_ready(self, targets: Sequence[Target], blob_bytes: int, blobs: int) -> None:
        self.inner.plan_ready(targets, blob_bytes, blobs)

    def bytes_moved(self, n: int) -> None:
        self.inner.bytes_moved(n)

    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None:
        self.inner.blob_done(desc, outcome)

    def image_started(self, target: Target) -> None:
        self.inner.image_started(target)

    def image_done(self, target: Target, error: str | None) -> None:
        if error is None:
            self.targets.append(target)
            self.inner.image_held(target)
        else:
            self.inner.image_done(target, error)

    def image_held(self, target: Target) -> None:
        self.inner.image_held(target)

    def close(self) -> None:
        self.inner.close()


def _needs(plan: Plan) -> dict[Digest, list[Descriptor]]:
    """The blobs each image manifest of the plan will have read, by the manifest's digest."""
    return {n.digest: [plan.nodes[c].descriptor for c in n.children]
            for n in plan.nodes.values() if n.kind is Kind.MANIFEST}
