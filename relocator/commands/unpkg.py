"""`relocator unpkg`: a tarball or OCI layout directory into a registry, same digests."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relocator.auth import CredentialStore
from relocator.commands.args import (
    add_copy_flags,
    add_destination_flags,
    add_global_flags,
    add_registry_flags,
    platform_selection,
    referrer_policy,
    settings_from,
)
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.credentials import credential_store, destination_hosts
from relocator.commands.report import finish_after
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Plan
from relocator.engine.platforms import ALL_PLATFORMS, PlatformSelection
from relocator.engine.referrers import ALL, ReferrerPolicy
from relocator.engine.target import ImageInput
from relocator.errors import InputError
from relocator.frontends.inputs import read_inputs
from relocator.frontends.layout_names import LayoutImage, layout_images, layout_mapper
from relocator.stores.base import BlobSource
from relocator.stores.layout_source import open_layout
from relocator.stores.registry import RegistryStore
from relocator.stores.sources import ForeignLayers
from relocator.ui.render import choose_reporter

__all__ = ["UnpkgOptions", "register", "run", "unpkg"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpkgOptions:
    """Where the images go and what to write besides."""

    input: Path
    repository: str | None = None
    prefix: str | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False
    fail_fast: bool = False
    referrers: ReferrerPolicy = ALL
    platforms: PlatformSelection = ALL_PLATFORMS
    credentials: CredentialStore | None = None  # from the command line's credential flags
    names: tuple[ImageInput, ...] = ()  # kbld's -f LOCK: which images, and their image: labels
    # By label, the origins a kbld lock given with -f names (frontends.inputs): --lock-output keeps them.
    lock_origins: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)


async def unpkg(settings: Settings, options: UnpkgOptions, reporter: Reporter,
                report: Report | None = None) -> tuple[Plan, Report]:
    """Push every image of the layout; manifests after their children, tags last. ``report`` is
    filled in as the run goes (engine.copy).

    Every entry is named and placed (frontends.layout_names) before anything moves: one that
    cannot be placed raises InputError. Layers with ``urls`` are left out, as every command
    leaves them, unless ``include_non_distributable``; then one the layout lacks is read from
    its URLs.
    """
    with await asyncio.to_thread(open_layout, options.input) as layout:
        images = layout_images(layout.where, layout.entries, repository=options.repository,
                               prefix=options.prefix)
        if options.names:
            images = _named(images, options.names, layout.where)
        async with open_client(settings, credentials=options.credentials) as client:
            source: BlobSource = layout
            if options.include_non_distributable:
                source = ForeignLayers(layout, client)
            sink = RegistryStore(client, chunk_size=settings.limits.chunk_size)
            plan, report = await copy(source, sink, [i.input for i in images], layout_mapper(images),
                                      settings.limits, reporter,
                                      include_non_distributable=options.include_non_distributable,
                                      fail_fast=options.fail_fast, referrers=options.referrers,
                                  platforms=options.platforms, report=report)
        report.notes += layout.notes
    write_lock_if_complete(options.lock_output, plan, report, options.platforms, options.lock_origins)
    return plan, report


def _named(images: list[LayoutImage], names: Sequence[ImageInput], where: str) -> list[LayoutImage]:
    """kbld's ``unpkg -f LOCK``: the layout's images the lock names (by digest, else by name),
    each labelled with the lock's ``image:`` value so ``--lock-output`` is keyed on it. Raises
    InputError for a lock image the layout does not hold."""
    by_digest = {i.input.ref.digest: i for i in images}
    by_name = {i.input.text: i for i in images}
    chosen = []
    for name in names:
        found = by_digest.get(name.ref.digest) if name.ref.digest else by_name.get(str(name.ref))
        if found is None:
            raise InputError(f"{name.origin}: {name.text} ({name.ref}) is not in {where}")
        chosen.append(LayoutImage(ImageInput(name.text, found.input.ref, found.input.origin),
                                  found.destination))
    return chosen


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``unpkg -i FILE.tar|DIR (--repository R | --prefix P) [--lock-output L]
    [--include-non-distributable-layers]``."""
    p = sub.add_parser("unpkg", aliases=["unpackage"], help="import a tarball or OCI layout into a registry")
    p.add_argument("-i", "--input", required=True, type=Path, metavar="FILE.tar|DIR")
    p.add_argument("-f", "--file", action="append", default=[], metavar="LOCK",
                   help="kbld: a lock file (or YAML) naming the images to import; --lock-output is "
                        "then keyed on its image: values")
    add_destination_flags(p)
    add_copy_flags(p, to_layout=False)
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Push the layout's images; the summary or --json report names every failure (exit 1)."""
    platforms = platform_selection(args)  # a bad --platform is refused before the layout is read
    named = read_inputs(args.file, [])  # kbld's -f LOCK; none: every image of the layout
    options = UnpkgOptions(input=args.input, repository=args.repository, prefix=args.prefix,
                           lock_output=args.lock_output,
                           include_non_distributable=args.include_non_distributable_layers,
                           fail_fast=args.fail_fast,
                           credentials=credential_store(
                               args, sources=(),
                               destinations=destination_hosts(args.repository, args.prefix)),
                           referrers=referrer_policy(args), platforms=platforms,
                           names=tuple(named.images), lock_origins=named.origins)
    settings = settings_from(args, chunk_size=args.chunk_size)
    report = Report()
    return await finish_after("unpkg", unpkg(settings, options, choose_reporter(args.json), report), report,
                              args.json)
