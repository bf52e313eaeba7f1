"""``copy``: the one entry point every verb runs: plan, prepare the sink, schedule, commit or discard."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from relocator.config import Limits
from relocator.engine.events import Outcome, Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.referrers import NONE, ReferrerPolicy
from relocator.engine.scheduler import Scheduler
from relocator.engine.sharding import shard_plan
from relocator.engine.survivors import kept_digests
from relocator.engine.target import ImageInput, Target
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Reference
from relocator.stores.base import BlobSink, BlobSource, Commits

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
) -> tuple[Plan, Report]:
    """Copy every input image from ``source`` into ``sink`` under ``destination(pinned ref)``.

    Images that cannot be planned or copied are failed in the report, the others go on, and the
    sink commits the images that finished (``close(keep)``): a tarball or layout holds every image
    that could be fetched. With ``fail_fast`` the run is all or nothing: the first failure stops
    it (one at planning: nothing starts) and the sink commits nothing. An interrupted run commits
    nothing either. For a sink that ``Commits``, an image is reported done only once the commit
    is, and ``Report.output``/``written`` say where and whether it was; a failed commit fails
    those images with its reason. ``shard`` ``(I, N)`` keeps shard I of N of the plan
    (engine.sharding: images sharing blobs stay together). ``referrers`` says which referrers of
    the images travel with them (engine.referrers; an input's own policy wins), placed next to
    their subjects. Raises InputError from ``sink.prepare`` before any blob moves.
    """
    plan = await build_plan(source, inputs, destination, include_non_distributable=include_non_distributable,
                            referrers=referrers)
    if shard is not None:
        plan = shard_plan(plan, *shard)
    output = sink.location if isinstance(sink, Commits) else None
    if fail_fast and plan.failed:
        reporter.close()
        skipped = {t.label: "not started: another image failed (--fail-fast)" for t in plan.targets}
        return plan, Report(failed={**skipped, **plan.failed}, output=output)
    held = _Held(reporter) if output is not None else None
    closed = False
    try:
        wanted = plan.placements().values()
        await sink.prepare([n.descriptor for n in wanted if n.kind is Kind.BLOB],
                           [plan.manifests[n.digest] for n in wanted if n.kind is not Kind.BLOB])
        report = await Scheduler(source, sink, limits, held or reporter, fail_fast=fail_fast).run(plan)
        report.output = output
        closed = True  # _commit closes the sink, once, whatever happens in it
        await _commit(sink, plan, report, held, all_or_nothing=fail_fast)
    finally:
        if not closed:
            # Interrupted, or the sink could not be prepared: the sink discards, or keeps a
            # partial file for a resume, never commits.
            await sink.close(None)
        reporter.close()
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

    def image_done(self, target: Target, error: str | None) -> None:
        if error is None:
            self.targets.append(target)
        else:
            self.inner.image_done(target, error)

    def close(self) -> None:
        self.inner.close()
