"""`relocator relocate`: copy every image to another registry, same digests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relocator.commands.common import open_client
from relocator.config import Settings
from relocator.errors import InputError
from relocator.events import Report, Reporter
from relocator.inputs import ImageInput
from relocator.lockfile import render_lock
from relocator.oci import Reference, Repository
from relocator.plan import Kind, Plan, build_plan
from relocator.scheduler import Scheduler, mount_origins, primaries, transfer_order
from relocator.stores.base import BlobSink
from relocator.stores.files import write_atomic
from relocator.stores.registry import RegistryStore

__all__ = ["RelocateOptions", "destination_mapper", "gc_tag", "relocate", "write_lock_if_complete"]

_TAG_MAX = 128


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


def gc_tag(ref: Reference) -> str:
    """``sha256-<hex>.relocated``: a tag that keeps an image alive where untagged ones are collected."""
    assert ref.digest is not None
    suffix = ".relocated"
    return f"{ref.digest.algorithm}-{ref.digest.hex}"[: _TAG_MAX - len(suffix)] + suffix


def destination_mapper(options: RelocateOptions) -> Callable[[Reference], Reference]:
    """kbld's --repository (one repository, by digest) or mirror mode under --prefix."""
    if (options.repository is None) == (options.prefix is None):
        raise InputError("give exactly one of --repository HOST/REPO and --prefix HOST[/PATH]")
    if options.repository is not None:
        try:
            repo = Repository.parse(options.repository)
        except InputError as exc:
            raise InputError(f"--repository: {exc}") from None
        if options.tag_for_gc:
            return lambda ref: Reference(repo, tag=gc_tag(ref), digest=ref.digest)
        return lambda ref: Reference(repo, digest=ref.digest)
    if options.tag_for_gc:
        raise InputError("--tag-for-gc goes with --repository; --prefix keeps the source tags")
    assert options.prefix is not None
    host, _, path = options.prefix.strip("/").partition("/")
    try:
        Repository.parse(f"{host}/{path}/x" if path else f"{host}/x")
    except InputError:
        raise InputError(f"--prefix {options.prefix!r}: not HOST[/PATH]") from None

    def mirror(ref: Reference) -> Reference:
        new_path = f"{path}/{ref.repository.path}" if path else ref.repository.path
        return Reference(Repository(host, new_path), ref.tag, ref.digest)

    return mirror


async def relocate(
    settings: Settings, inputs: list[ImageInput], options: RelocateOptions, reporter: Reporter
) -> tuple[Plan, Report]:
    """Plan, copy, and write the lock file if every image made it."""
    mapper = destination_mapper(options)
    async with open_client(settings) as client:
        store = RegistryStore(client, chunk_size=settings.limits.chunk_size)
        plan = await build_plan(store, inputs, mapper,
                                include_non_distributable=options.include_non_distributable)
        if options.dry_run:
            return plan, Report(failed=dict(plan.failed))
        if options.fail_fast and plan.failed:
            skipped = {t.input.text: "not started: another image failed (--fail-fast)" for t in plan.targets}
            reporter.close()
            return plan, Report(failed={**skipped, **plan.failed})
        try:
            report = await Scheduler(store, store, settings.limits, reporter,
                                     fail_fast=options.fail_fast).run(plan)
        finally:
            reporter.close()
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report


def write_lock_if_complete(path: Path | None, plan: Plan, report: Report) -> None:
    """The kbld lock of where every image went, written atomically and only if none failed."""
    if path is not None and not report.failed:
        pairs = [(t.input.text, str(report.done[t.input.text])) for t in plan.targets]
        write_atomic(path, render_lock(pairs))


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
        "images": [{"image": t.input.text, "source": str(t.source), "destination": str(t.destination)}
                   for t in plan.targets],
        "failed": dict(sorted(plan.failed.items())),
        "manifests": sum(1 for n in plan.nodes.values() if n.kind is not Kind.BLOB),
        "unique_blobs": sum(1 for n in plan.nodes.values() if n.kind is Kind.BLOB),
        "bytes_to_move": to_move,
        "bytes_present": present_bytes,
        "mounts": mounts,
    }
