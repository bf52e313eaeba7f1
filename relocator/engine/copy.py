"""``copy``: the one entry point every verb runs: plan, prepare the sink, schedule, commit or discard."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from relocator.config import Limits
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.scheduler import Scheduler
from relocator.engine.target import ImageInput
from relocator.oci import Reference
from relocator.stores.base import BlobSink, BlobSource, KeepsPartial

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
    report: Report | None = None,
) -> tuple[Plan, Report]:
    """Copy every input image from ``source`` into ``sink`` under ``destination(pinned ref)``.

    Images that cannot be planned are failed in the report, the others go on (unless
    ``fail_fast``, where nothing starts). The sink commits (``close(success=True)``) only when
    every image made it; a partial file it keeps for a resume is named in the report's notes.
    Raises InputError from ``sink.prepare`` before any blob moves.

    ``report`` (a new one if None) is filled in as the run goes. Cancelled (SIGINT, SIGTERM),
    the scheduler lets writes under way settle, the sink keeps or discards, and CancelledError
    goes on with ``report`` saying what finished (``interrupted``, ``unfinished``).
    """
    report = Report() if report is None else report
    items = list(inputs)
    report.images = list(dict.fromkeys(i.text for i in items))
    committed = False
    try:
        plan = await build_plan(source, items, destination,
                                include_non_distributable=include_non_distributable)
        report.failed.update(plan.failed)
        if fail_fast and plan.failed:
            for target in plan.targets:
                report.failed.setdefault(target.label, "not started: another image failed (--fail-fast)")
            return plan, report
        wanted = plan.placements().values()
        await sink.prepare([n.descriptor for n in wanted if n.kind is Kind.BLOB],
                           [plan.manifests[n.digest] for n in wanted if n.kind is not Kind.BLOB])
        await Scheduler(source, sink, limits, reporter, fail_fast=fail_fast).run(plan, report)
        committed = not report.failed
    except asyncio.CancelledError:
        report.interrupted = True
        raise
    finally:
        reporter.close()
        # Interrupted, or any image failed: the sink discards or keeps a partial file for a
        # resume, never commits.
        await sink.close(success=committed)
        if isinstance(sink, KeepsPartial) and sink.kept is not None:
            report.notes.append(f"{sink.kept} kept: the same command run again resumes from it")
    return plan, report
