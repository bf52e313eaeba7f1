"""`relocator relocate`: copy every image to another registry, same digests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relocator.commands.common import open_client
from relocator.config import Settings
from relocator.errors import InputError
from relocator.events import Report, Reporter
from relocator.inputs import ImageInput
from relocator.lockfile import render_lock
from relocator.oci import Reference, Repository
from relocator.plan import Plan, build_plan
from relocator.scheduler import Scheduler
from relocator.stores.files import write_atomic
from relocator.stores.registry import RegistryStore

__all__ = ["RelocateOptions", "destination_mapper", "relocate"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RelocateOptions:
    """Where images go and what to write besides."""

    repository: str | None = None
    prefix: str | None = None
    lock_output: Path | None = None
    include_non_distributable: bool = False


def destination_mapper(options: RelocateOptions) -> Callable[[Reference], Reference]:
    """kbld's --repository (one repository, by digest) or mirror mode under --prefix."""
    if (options.repository is None) == (options.prefix is None):
        raise InputError("give exactly one of --repository HOST/REPO and --prefix HOST[/PATH]")
    if options.repository is not None:
        repo = Repository.parse(options.repository)
        return lambda ref: Reference(repo, digest=ref.digest)
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
        plan = await build_plan(client, inputs, mapper,
                                include_non_distributable=options.include_non_distributable)
        store = RegistryStore(client, chunk_size=settings.limits.chunk_size)
        report = await Scheduler(store, store, settings.limits, reporter).run(plan)
    if options.lock_output is not None and not report.failed:
        pairs = [(t.input.text, str(report.done[t.input.text])) for t in plan.targets]
        write_atomic(options.lock_output, render_lock(pairs))
    return plan, report
