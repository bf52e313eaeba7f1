"""`relocator relocate`: copy every image to another registry, same digests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relocator.commands.common import open_client, write_lock_if_complete
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.dryrun import DryRunSink
from relocator.engine.events import Outcome, Report, Reporter
from relocator.engine.plan import Kind, Plan
from relocator.engine.target import ImageInput
from relocator.frontends.destinations import destination_mapper
from relocator.stores.base import BlobSink
from relocator.stores.registry import RegistryStore
from relocator.ui.render import QuietReporter

__all__ = ["RelocateOptions", "dry_run", "relocate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RelocateOptions:
    """Where images go and what to write besides."""

    repository: str | None = None
    prefix: str | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False
    tag_for_gc: bool = False
    fail_fast: bool = False
    dry_run: bool = False


async def relocate(
    settings: Settings, inputs: list[ImageInput], options: RelocateOptions, reporter: Reporter
) -> tuple[Plan, Report]:
    """Plan, copy, and write the lock file if every image made it."""
    plan, report, _ = await _copy(settings, inputs, options, reporter, dry_run=False)
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report


async def dry_run(settings: Settings, inputs: list[ImageInput], options: RelocateOptions) -> dict[str, Any]:
    """What a run would do, found by the real scheduler over a DryRunSink: images, unique blobs,
    bytes to move, bytes already present, mounts. Nothing is written, no blob is read."""
    plan, report, sink = await _copy(settings, inputs, options, QuietReporter(), dry_run=True)
    assert isinstance(sink, DryRunSink)
    return {
        "images": [{"image": t.label, "source": str(t.source), "destination": str(t.destination)}
                   for t in plan.targets],
        "failed": dict(sorted(report.failed.items())),
        "manifests": sum(1 for n in plan.nodes.values() if n.kind is not Kind.BLOB),
        "unique_blobs": sum(1 for n in plan.nodes.values() if n.kind is Kind.BLOB),
        "bytes_to_move": report.bytes_moved,
        "bytes_present": sink.bytes_present,
        "mounts": report.blobs[Outcome.MOUNTED],
    }


async def _copy(settings: Settings, inputs: list[ImageInput], options: RelocateOptions, reporter: Reporter,
                *, dry_run: bool) -> tuple[Plan, Report, BlobSink]:
    mapper = destination_mapper(options.repository, options.prefix, tag_for_gc=options.tag_for_gc)
    async with open_client(settings) as client:
        store = RegistryStore(client, chunk_size=settings.limits.chunk_size)
        sink: BlobSink = DryRunSink(store) if dry_run else store
        plan, report = await copy(store, sink, inputs, mapper, settings.limits, reporter,
                                  include_non_distributable=options.include_non_distributable,
                                  fail_fast=options.fail_fast)
    return plan, report, sink
