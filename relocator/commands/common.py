"""What every verb needs: a client for the run, built from Settings and closed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from relocator.auth import CredentialStore
from relocator.config import Settings
from relocator.registry import RegistryClient, Transport, open_session
from relocator.registry.tracing import Timings

__all__ = ["open_client"]


@asynccontextmanager
async def open_client(
    settings: Settings, timings: Timings | None = None
) -> AsyncIterator[RegistryClient]:
    """The run's one RegistryClient on the run's one session (traced when ``timings`` is given)."""
    session = open_session(settings, [timings.trace_config()] if timings is not None else None)
    try:
        yield RegistryClient(Transport(session, settings, CredentialStore()))
    finally:
        await session.close()
