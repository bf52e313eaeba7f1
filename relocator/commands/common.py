"""What every verb needs: a client for the run, built from Settings and closed at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from relocator.auth import CredentialStore
from relocator.config import Settings
from relocator.registry import RegistryClient, Transport, open_session

__all__ = ["open_client"]


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[RegistryClient]:
    """The run's one RegistryClient on the run's one session."""
    session = open_session(settings)
    try:
        yield RegistryClient(Transport(session, settings, CredentialStore()))
    finally:
        await session.close()
