"""What every verb needs: the run's client, built from Settings and closed at the end; the lock file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relocator.auth import CredentialStore
from relocator.config import Settings
from relocator.engine.events import Report
from relocator.engine.plan import Plan
from relocator.engine.platforms import ALL_PLATFORMS, PlatformSelection
from relocator.frontends.lockfile import render_lock
from relocator.oci.platform import Platform
from relocator.stores.files import write_atomic

if TYPE_CHECKING:
    from relocator.registry import RegistryClient
    from relocator.registry.tracing import Timings

__all__ = ["open_client", "write_lock_if_complete"]


@asynccontextmanager
async def open_client(
    settings: Settings, timings: Timings | None = None, credentials: CredentialStore | None = None,
) -> AsyncIterator[RegistryClient]:
    """The run's one RegistryClient on the run's one session (traced when ``timings`` is given),
    with ``credentials`` (commands.credentials) or the usual lookup.

    The one place a command loads the registry client, and with it aiohttp (about 100 ms of
    imports): the parser, ``--help`` and input refused before any network use never pay for it
    (tests/test_startup.py, benchmarks/startup.py).
    """
    from relocator.registry import RegistryClient, Transport, open_session

    session = open_session(settings, [timings.trace_config()] if timings is not None else None)
    try:
        yield RegistryClient(Transport(session, settings, credentials or CredentialStore()))
    finally:
        await session.close()


def write_lock_if_complete(path: Path | None, plan: Plan, report: Report,
                           platforms: PlatformSelection = ALL_PLATFORMS,
                           carried: Mapping[str, Sequence[dict[str, Any]]] | None = None) -> None:
    """The kbld lock of where every image went, written atomically and only if none failed. An
    image whose digest is not its source's (engine.platforms) says where it came from the way
    kbld's own ``--platform`` does: one ``platformSelected`` origin per platform chosen, naming the
    source index by digest (kbld Origin.PlatformSelected: index, os, architecture, variant).
    ``carried`` (by label: the ``origins`` of the lock the images were read from, frontends.inputs)
    go first: a copy moves an image, it does not change where the image came from."""
    if path is None or report.failed:
        return
    carried = carried or {}
    pairs = [(t.label, str(report.done[t.label])) for t in plan.targets]
    origins: dict[str, list[dict[str, Any]]] = {}
    for t in plan.targets:
        found = list(carried.get(t.label, ()))
        if t.source_root is not None:  # its source is pinned to the source index's digest
            found += [{"platformSelected": _selected(str(t.source.with_tag(None)), p)}
                      for p in platforms.platforms]
        if found:
            origins[t.label] = found
    write_atomic(path, render_lock(pairs, origins))


def _selected(index: str, platform: Platform) -> dict[str, str]:
    found = {"index": index, "os": platform.os, "architecture": platform.architecture}
    return found | ({"variant": platform.variant} if platform.variant else {})
