"""`relocator relocate`: copy every image to another registry, same digests."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relocator.auth import CredentialStore
from relocator.commands.args import (
    add_copy_flags,
    add_destination_flags,
    add_global_flags,
    add_input_flags,
    add_registry_flags,
    platform_selection,
    referrer_policy,
    settings_from,
    shard,
)
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.credentials import credential_store, destination_hosts, hosts_of
from relocator.commands.report import finish_after, inputs_or_refuse
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.dryrun import DryRunSink
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Kind, Plan
from relocator.engine.platforms import ALL_PLATFORMS, PlatformSelection
from relocator.engine.referrers import ALL, ReferrerPolicy
from relocator.engine.target import ImageInput
from relocator.frontends.destinations import destination_mapper
from relocator.frontends.inputs import shard as shard_inputs
from relocator.stores.base import BlobSink
from relocator.stores.registry import RegistryStore
from relocator.stores.sources import ForeignLayers
from relocator.stores.uploadbook import UploadBook
from relocator.ui import print_json, print_plan
from relocator.ui.jsonreport import copy_report
from relocator.ui.render import QuietReporter, choose_reporter

__all__ = ["RelocateOptions", "dry_run", "register", "relocate", "run"]


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
    referrers: ReferrerPolicy = ALL
    platforms: PlatformSelection = ALL_PLATFORMS
    credentials: CredentialStore | None = None  # from the command line's credential flags
    # By label, the origins a kbld lock given with -f names (frontends.inputs): --lock-output keeps them.
    lock_origins: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)


async def relocate(
    settings: Settings, inputs: list[ImageInput], options: RelocateOptions, reporter: Reporter,
    report: Report | None = None,
) -> tuple[Plan, Report]:
    """Plan, copy, and write the lock file if every image made it. ``report`` is filled in as the
    run goes (engine.copy)."""
    plan, report, _ = await _copy(settings, inputs, options, reporter, dry_run=False, report=report)
    write_lock_if_complete(options.lock_output, plan, report, options.platforms, options.lock_origins)
    return plan, report


async def dry_run(settings: Settings, inputs: list[ImageInput], options: RelocateOptions) -> dict[str, Any]:
    """What a run would do, found by the real scheduler over a DryRunSink, as the JSON report
    (ui.jsonreport, ``dry_run: true``): each image planned or failed, blob placements that would
    be transferred, mounted or skipped, the bytes to move (``throughput.bytes``), the referrers;
    ``details``: manifests, unique blobs, bytes already present. Nothing is written, no blob is
    read."""
    plan, report, sink = await _copy(settings, inputs, options, QuietReporter(), dry_run=True)
    assert isinstance(sink, DryRunSink)
    report.referrers = plan.referrer_count()
    return copy_report("relocate", report, dry_run=True, details={
        "manifests": sum(1 for n in plan.nodes.values() if n.kind is not Kind.BLOB),
        "unique_blobs": sum(1 for n in plan.nodes.values() if n.kind is Kind.BLOB),
        "bytes_present": sink.bytes_present,
    })


async def _copy(settings: Settings, inputs: list[ImageInput], options: RelocateOptions, reporter: Reporter,
                *, dry_run: bool, report: Report | None = None) -> tuple[Plan, Report, BlobSink]:
    mapper = destination_mapper(options.repository, options.prefix, tag_for_gc=options.tag_for_gc)
    async with open_client(settings, credentials=options.credentials) as client:
        store = RegistryStore(client, chunk_size=settings.limits.chunk_size,
                              sessions=UploadBook(read_only=True) if dry_run else None)
        sink: BlobSink = DryRunSink(store) if dry_run else store
        # With the flag, a layer with urls the source registry lacks is read from its URLs.
        source = ForeignLayers(store, client) if options.include_non_distributable else store
        plan, report = await copy(source, sink, inputs, mapper, settings.limits, reporter,
                                  include_non_distributable=options.include_non_distributable,
                                  fail_fast=options.fail_fast, referrers=options.referrers,
                                  platforms=options.platforms, report=report)
    return plan, report, sink


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``relocate -f|-i ... (--repository R | --prefix P) [...]``."""
    p = sub.add_parser("relocate", help="copy images to another registry, same digests")
    add_input_flags(p)
    add_destination_flags(p)
    add_copy_flags(p, to_layout=False)
    p.add_argument("--tag-for-gc", action="store_true",
                   help="with --repository: tag each image sha256-<hex>.relocated so GC keeps it")
    p.add_argument("--shard", type=shard, metavar="I/N",
                   help="relocate only shard I of N (0-based), for splitting a mirror across workers")
    p.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Relocate (or with --dry-run describe) every image; exit 1 if any failed."""
    referrer_policy(args)  # a bad --referrers or --platform is refused before the inputs are read
    platforms = platform_selection(args)
    asked = inputs_or_refuse(args)
    inputs = asked.images
    if args.shard is not None:
        inputs = shard_inputs(inputs, *args.shard)
    options = RelocateOptions(repository=args.repository, prefix=args.prefix, lock_output=args.lock_output,
                              include_non_distributable=args.include_non_distributable_layers,
                              tag_for_gc=args.tag_for_gc, fail_fast=args.fail_fast, dry_run=args.dry_run,
                              credentials=credential_store(
                                  args, sources=hosts_of(inputs),
                                  destinations=destination_hosts(args.repository, args.prefix)),
                              referrers=referrer_policy(args), platforms=platforms,
                              lock_origins=asked.origins)
    settings = settings_from(args, chunk_size=args.chunk_size)
    if args.dry_run:
        summary = await dry_run(settings, inputs, options)
        if args.json:
            print_json(summary)
        else:
            print_plan(summary)
        return 1 if summary["counts"]["outcomes"].get("failed") else 0
    report = Report()
    work = relocate(settings, inputs, options, choose_reporter(args.json), report)
    return await finish_after("relocate", work, report, args.json)
