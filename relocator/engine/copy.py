"""``copy``: the one entry point every verb runs: plan, prepare the sink, schedule, commit or discard."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from relocator.config import Limits
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.scheduler import Scheduler
from relocator.engine.sharding import shard_plan
from relocator.engine.target import ImageInput
from relocator.oci import Reference
from relocator.stores.base import BlobSink, BlobSource

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
) -> tuple[Plan, Report]:
    """Copy every input image from ``source`` into ``sink`` under ``destination(pinned ref)``.

    Images that cannot be planned are failed in the report, the others go on (unless
    ``fail_fast``, where nothing starts). The sink commits (``close(success=True)``) only when
    every image made it. ``shard`` ``(I, N)`` keeps shard I of N of the plan (engine.sharding:
    images sharing blobs stay together). Raises InputError from ``sink.prepare`` before any blob
    moves.
    """
    plan = await build_plan(source, inputs, destination, include_non_distributable=include_non_distributable)
    if shard is not None:
        plan = shard_plan(plan, *shard)
    if fail_fast and plan.failed:
        reporter.close()
        skipped = {t.label: "not started: another image failed (--fail-fast)" for t in plan.targets}
        return plan, Report(failed={**skipped, **plan.failed})
    report: Report | None = None
    try:
        wanted = plan.placements().values()
        await sink.prepare([n.descriptor for n in wanted if n.kind is Kind.BLOB],
                           [plan.manifests[n.digest] for n in wanted if n.kind is not Kind.BLOB])
        report = await Scheduler(source, sink, limits, reporter, fail_fast=fail_fast).run(plan)
    finally:
        reporter.close()
        # An interrupted run (report is None) or any failed image: the sink discards or keeps a
        # partial file for a resume, never commits.
        await sink.close(success=report is not None and not report.failed)
    return plan, report
