"""`relocator relocate`: copy every image to another registry, same digests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relocator.commands.common import open_client, write_lock_if_complete
from relocator.config import Settings
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.scheduler import Scheduler, mount_origins, primaries, transfer_order
from relocator.frontends.destinations import destination_mapper
from relocator.frontends.inputs import ImageInput
from relocator.oci import Repository
from relocator.stores.base import BlobSink
from relocator.stores.registry import RegistryStore

__all__ = ["RelocateOptions", "describe_plan", "relocate"]

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
    mapper = destination_mapper(options.repository, options.prefix, tag_for_gc=options.tag_for_gc)
    async with open_client(settings) as client:
        store = RegistryStore(client, chunk_size=settings.limits.chunk_size)
        plan = await build_plan(store, inputs, mapper,
                                include_non_distributable=options.include_non_distributable)
        if options.dry_run:
            return plan, Report(failed=dict(plan.failed))
        if options.fail_fast and plan.failed:
            skipped = {t.label: "not started: another image failed (--fail-fast)" for t in plan.targets}
            reporter.close()
            return plan, Report(failed={**skipped, **plan.failed})
        try:
            report = await Scheduler(store, store, settings.limits, reporter,
                                     fail_fast=options.fail_fast).run(plan)
        finally:
            reporter.close()
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report


async def describe_plan(settings: Settings, plan: Plan) -> dict[str, Any]:
    """What a run would do: images, unique blobs, bytes to move, bytes present, mounts."""
    wanted = plan.placements()
    order = transfer_order(wanted)
    async with open_client(settings) as client:
        sink: BlobSink = RegistryStore(client)
        gate = asyncio.Semaphore(settings.limits.concurrency)

        async def present(key: tuple[Repository, Any]) -> bool:
            async with gate:
                return await sink.has_blob(key[0], wanted[key].descriptor)

        found = await asyncio.gather(*(present(k) for k in order))
    primary = primaries(order)
    to_move = mounts = present_bytes = 0
    for key, here in zip(order, found, strict=True):
        node = wanted[key]
        if here:
            present_bytes += node.descriptor.size
        elif mount_origins(key[0], node, primary[node.digest]):
            mounts += 1
        else:
            to_move += node.descriptor.size
    return {
        "images": [{"image": t.label, "source": str(t.source), "destination": str(t.destination)}
                   for t in plan.targets],
        "failed": dict(sorted(plan.failed.items())),
        "manifests": sum(1 for n in plan.nodes.values() if n.kind is not Kind.BLOB),
        "unique_blobs": sum(1 for n in plan.nodes.values() if n.kind is Kind.BLOB),
        "bytes_to_move": to_move,
        "bytes_present": present_bytes,
        "mounts": mounts,
    }
