"""`relocator pkg`: every image into one OCI-layout tarball, each blob once."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from relocator.commands.common import open_client, write_lock_if_complete
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Plan
from relocator.engine.target import ImageInput
from relocator.stores.base import BlobSink
from relocator.stores.budget import ByteBudget
from relocator.stores.registry import RegistryStore
from relocator.stores.spool import Spool
from relocator.stores.tarball import TarballFile
from relocator.stores.tarstream import TarballStream

__all__ = ["PkgOptions", "pkg"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PkgOptions:
    """Where the tarball goes and what to write besides."""

    output: str
    spool_dir: Path | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False


def _sink(options: PkgOptions, limits_bytes: int) -> BlobSink:
    """The same tar either way: written in place for a file; spooled and appended in order for
    stdout, under the run's one byte budget (the scheduler shares the stream's)."""
    if options.output == "-":
        spool = options.spool_dir or Path(tempfile.gettempdir()) / "relocator-spool"
        return TarballStream(sys.stdout.buffer, Spool(spool), ByteBudget(limits_bytes))
    return TarballFile(Path(options.output))


async def pkg(settings: Settings, inputs: list[ImageInput], options: PkgOptions,
              reporter: Reporter) -> tuple[Plan, Report]:
    """Copy every image into the tarball store; it is renamed into place only if every image made it
    (a backup is all or nothing: otherwise the partial file stays for a resume)."""
    # Download-bound: hashing in worker threads was measured faster here (config.Limits).
    settings = replace(settings, limits=replace(settings.limits, hash_in_threads=True))
    async with open_client(settings) as client:
        store = RegistryStore(client)
        plan, report = await copy(store, _sink(options, settings.limits.bytes_in_flight), inputs,
                                  lambda ref: ref, settings.limits, reporter,
                                  include_non_distributable=options.include_non_distributable)
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report
