"""`relocator pkg`: every image into one OCI-layout tarball, each blob once."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from relocator.auth import CredentialStore
from relocator.commands.args import (
    add_copy_flags,
    add_global_flags,
    add_input_flags,
    add_registry_flags,
    output_file,
    platform_selection,
    referrer_policy,
    settings_from,
)
from relocator.commands.common import open_client, write_lock_if_complete
from relocator.commands.credentials import credential_store, hosts_of
from relocator.commands.report import finish_after, inputs_or_refuse
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Plan
from relocator.engine.platforms import ALL_PLATFORMS, PlatformSelection
from relocator.engine.referrers import ALL, ReferrerPolicy
from relocator.engine.target import ImageInput
from relocator.errors import InputError
from relocator.stores.base import BlobSink
from relocator.stores.budget import ByteBudget
from relocator.stores.registry import RegistryStore
from relocator.stores.sources import ForeignLayers
from relocator.stores.spool import Spool
from relocator.stores.tarball import TarballFile
from relocator.stores.tarstream import TarballStream
from relocator.ui.render import choose_reporter

__all__ = ["PkgOptions", "pkg", "register", "run"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PkgOptions:
    """Where the tarball goes and what to write besides."""

    output: str
    spool_dir: Path | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False
    fail_fast: bool = False  # all or nothing: no tarball unless every image made it
    referrers: ReferrerPolicy = ALL
    platforms: PlatformSelection = ALL_PLATFORMS
    credentials: CredentialStore | None = None  # from the command line's credential flags
    # By label, the origins a kbld lock given with -f names (frontends.inputs): --lock-output keeps them.
    lock_origins: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)


def _sink(options: PkgOptions, limits_bytes: int) -> BlobSink:
    """The same tar either way: written in place for a file; spooled and appended in order for
    stdout, under the run's one byte budget (the scheduler shares the stream's)."""
    if options.output == "-":
        spool = options.spool_dir or Path(tempfile.gettempdir()) / "relocator-spool"
        return TarballStream(sys.stdout.buffer, Spool(spool), ByteBudget(limits_bytes))
    return TarballFile(Path(options.output))


async def pkg(settings: Settings, inputs: list[ImageInput], options: PkgOptions,
              reporter: Reporter, report: Report | None = None) -> tuple[Plan, Report]:
    """Copy every image into the tarball store: it holds every image that made it (the report
    names the others), or with ``fail_fast`` it is written only if all did (otherwise the
    partial file stays for a resume). ``report`` is filled in as the run goes (engine.copy)."""
    # Download-bound: hashing in worker threads was measured faster here (config.Limits).
    settings = replace(settings, limits=replace(settings.limits, hash_in_threads=True))
    async with open_client(settings, credentials=options.credentials) as client:
        store = RegistryStore(client)
        # With the flag, a layer with urls the source registry lacks is read from its URLs.
        source = ForeignLayers(store, client) if options.include_non_distributable else store
        plan, report = await copy(source, _sink(options, settings.limits.bytes_in_flight), inputs,
                                  lambda ref: ref, settings.limits, reporter,
                                  include_non_distributable=options.include_non_distributable,
                                  fail_fast=options.fail_fast, referrers=options.referrers,
                                  platforms=options.platforms, report=report)
    write_lock_if_complete(options.lock_output, plan, report, options.platforms, options.lock_origins)
    return plan, report


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``pkg -f|-i ... -o FILE.tar|- [--lock-output L]``."""
    p = sub.add_parser("pkg", aliases=["package"], help="export images into one OCI-layout tarball")
    add_input_flags(p)
    p.add_argument("-o", "--output", required=True, type=_output, metavar="FILE.tar",
                   help="the tarball ('-' is stdout)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing FILE.tar (atomically, once the new one is complete); "
                        "without it an existing file is refused")
    p.add_argument("--spool-dir", type=Path, metavar="DIR",
                   help="with -o -: where finished blobs wait for the writer (default: the temp dir)")
    add_copy_flags(p, chunked=False)
    add_registry_flags(p)
    add_global_flags(p, top=False)
    # pkg is bound by downloads, which aiohttp reads faster on asyncio's loop (benchmarks/README.md:
    # 2.21-2.23 s against 2.26-2.83 s on uvloop for the 1 GB corpus).
    p.set_defaults(run=run, loop="asyncio")


def _output(text: str) -> str:
    """``-``, or the tarball's path: skopeo's ``oci-archive:FILE`` spelling names the same file
    (copy takes it too), rather than a file literally called ``oci-archive:FILE``."""
    if text.startswith("oci-archive:"):
        path, sep, _ = text.removeprefix("oci-archive:").partition(":")
        if not path:
            raise argparse.ArgumentTypeError(f"{text}: no path after oci-archive:")
        if sep:
            raise argparse.ArgumentTypeError(f"{text}: pkg -o takes oci-archive:FILE, no NAME: each "
                                             "image keeps its own reference (use copy for one name)")
        text = path
    return text if text == "-" else str(output_file(text))


def _refuse_existing(path: Path) -> None:
    """InputError (exit 2, before any transfer) for a tarball that exists: a nightly backup must
    not lose last night's file to a mistyped ``-o`` (issue 13); ``--force`` replaces it."""
    if path.exists():
        raise InputError(f"{path}: exists; --force replaces it (atomically, once the new tarball "
                         "is complete)")


async def run(args: argparse.Namespace) -> int:
    """Write the tarball; with ``-o -`` the report goes to stderr."""
    referrer_policy(args)  # a bad --referrers or --platform is refused before the inputs are read
    platforms = platform_selection(args)
    asked = inputs_or_refuse(args)
    inputs = asked.images
    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty():
        raise InputError("-o -: refusing to write a tarball to a terminal")
    if not to_stdout and not args.force:
        _refuse_existing(Path(args.output))
    options = PkgOptions(output=args.output, spool_dir=args.spool_dir, lock_output=args.lock_output,
                         include_non_distributable=args.include_non_distributable_layers,
                         fail_fast=args.fail_fast,
                         credentials=credential_store(args, sources=hosts_of(inputs), destinations=()),
                         referrers=referrer_policy(args), platforms=platforms, lock_origins=asked.origins)
    reporter = choose_reporter(args.json, "stdout" if to_stdout else args.output)
    report = Report()
    return await finish_after("pkg", pkg(settings_from(args), inputs, options, reporter, report), report,
                              args.json, to_stderr=to_stdout)
