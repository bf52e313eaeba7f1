"""`relocator unpkg`: a tarball or OCI layout directory into a registry, same digests."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

from relocator.commands.args import add_global_flags, add_registry_flags, settings_from, size
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.report import finish
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Plan
from relocator.engine.target import ImageInput
from relocator.errors import BadReference, InputError
from relocator.frontends.destinations import destination_mapper
from relocator.oci import Reference
from relocator.stores.layout_source import LayoutSource, open_layout
from relocator.stores.registry import RegistryStore
from relocator.ui.render import choose_reporter

__all__ = ["UnpkgOptions", "layout_inputs", "register", "run", "unpkg"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpkgOptions:
    """Where the images go and what to write besides."""

    input: Path
    repository: str | None = None
    prefix: str | None = None
    lock_output: Path | None = None


def layout_inputs(source: LayoutSource) -> list[ImageInput]:
    """One input per index.json entry: its reference name, pinned to the entry's digest."""
    inputs: list[ImageInput] = []
    for entry in source.entries:
        digest = entry.descriptor.digest
        if entry.ref_name is None:
            raise InputError(f"{source.where}: index.json entry {digest} has no reference name")
        try:
            ref = Reference.parse(entry.ref_name)
        except BadReference as exc:
            raise InputError(f"{source.where}: {exc}") from None
        inputs.append(ImageInput(entry.ref_name, ref.with_digest(digest), source.where))
    return inputs


async def unpkg(settings: Settings, options: UnpkgOptions, reporter: Reporter) -> tuple[Plan, Report]:
    """Push every image of the layout; manifests after their children, tags last."""
    mapper = destination_mapper(options.repository, options.prefix)
    with await asyncio.to_thread(open_layout, options.input) as source:
        inputs = layout_inputs(source)
        async with open_client(settings) as client:
            sink = RegistryStore(client, chunk_size=settings.limits.chunk_size)
            plan, report = await copy(source, sink, inputs, mapper, settings.limits, reporter,
                                      include_non_distributable=True)
        report.notes += source.notes
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``unpkg -i FILE.tar|DIR (--repository R | --prefix P) [--lock-output L]``."""
    p = sub.add_parser("unpkg", aliases=["unpackage"], help="import a tarball or OCI layout into a registry")
    p.add_argument("-i", "--input", required=True, type=Path, metavar="FILE.tar|DIR")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--repository", metavar="HOST/REPO", help="every image into this repository")
    dest.add_argument("--prefix", metavar="HOST[/PATH]", help="restore repository paths and tags under this")
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--chunk-size", type=size, metavar="BYTES", help="upload in chunks of this size")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Push the layout's images; the summary or --json report names every failure (exit 1)."""
    options = UnpkgOptions(input=args.input, repository=args.repository, prefix=args.prefix,
                           lock_output=args.lock_output)
    settings = settings_from(args, chunk_size=args.chunk_size)
    _, report = await unpkg(settings, options, choose_reporter(args.json))
    return finish(report, args.json)
