"""`relocator pkg`: every image into one OCI-layout tarball, each blob once."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from relocator.commands.common import open_client, write_lock_if_complete
from relocator.config import Settings
from relocator.engine.events import Report, Reporter
from relocator.engine.plan import Kind, Plan, build_plan
from relocator.engine.scheduler import Scheduler
from relocator.engine.target import ImageInput
from relocator.oci import Reference
from relocator.oci.layout import IndexEntry, build_index
from relocator.stores.registry import RegistryStore
from relocator.stores.spool import Spool
from relocator.stores.tarball import TarballFile, TarLayout
from relocator.stores.tarstream import TarballStream

__all__ = ["PkgOptions", "pkg"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PkgOptions:
    """Where the tarball goes and what to write besides."""

    output: str
    spool_dir: Path | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False


def _index(plan: Plan) -> bytes:
    """index.json: one descriptor per original reference, named by it."""
    entries: dict[str, IndexEntry] = {}
    for t in plan.targets:
        name = str(Reference(t.source.repository, tag=t.source.tag)) if t.source.tag else str(t.source)
        entries.setdefault(name, IndexEntry(plan.manifests[t.root].descriptor, name))
    return build_index(list(entries.values()))


def _sink(plan: Plan, options: PkgOptions, limits_bytes: int) -> TarballFile | TarballStream:
    """A tar laid out from the plan for a file; a spooling stream for stdout."""
    if options.output == "-":
        spool = options.spool_dir or Path(tempfile.gettempdir()) / "relocator-spool"
        return TarballStream(sys.stdout.buffer, Spool(spool, limits_bytes), _index(plan))
    wanted = plan.placements().values()
    layout = TarLayout.build(
        (n.descriptor for n in wanted if n.kind is Kind.BLOB),
        ((n.digest, plan.manifests[n.digest].raw) for n in wanted if n.kind is not Kind.BLOB),
        _index(plan))
    return TarballFile(Path(options.output), layout)


async def pkg(settings: Settings, inputs: list[ImageInput], options: PkgOptions,
              reporter: Reporter) -> tuple[Plan, Report]:
    """Plan, download into the tar writer, and rename the tar into place only if every image made it."""
    # Download-bound: hashing in worker threads was measured faster here (config.Limits).
    settings = replace(settings, limits=replace(settings.limits, hash_in_threads=True))
    async with open_client(settings) as client:
        store = RegistryStore(client)
        plan = await build_plan(store, inputs, lambda ref: ref,
                                include_non_distributable=options.include_non_distributable)
        writer = _sink(plan, options, settings.limits.bytes_in_flight)
        await writer.open()
        report: Report | None = None
        try:
            report = await Scheduler(store, writer, settings.limits, reporter).run(plan)
        finally:
            reporter.close()
            # A backup is all or nothing: with any image missing, or the run interrupted, the
            # partial file stays for a resume.
            await writer.close(success=report is not None and not report.failed)
    write_lock_if_complete(options.lock_output, plan, report)
    return plan, report
