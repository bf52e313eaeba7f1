"""Bearer tokens cached per (realm, service, scope), each fetched once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from relocator.auth.challenge import Challenge
from relocator.auth.credentials import Credential

__all__ = ["Token", "TokenCache", "TokenFetcher"]


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and when to stop using it."""

    value: str
    expires_at: float

    def __repr__(self) -> str:
        return f"Token(<redacted>, expires_at={self.expires_at:.0f})"


# (challenge, scopes, credential) -> Token; registry/ supplies the HTTP side.
TokenFetcher = Callable[[Challenge, tuple[str, ...], Credential | None], Awaitable[Token]]

# Refresh a little before expiry so a token does not lapse mid-request.
_MARGIN = 30.0


class TokenCache:
    """Single-flight token cache; the fetch is injected so no HTTP lives here."""

    def __init__(self, fetch: TokenFetcher) -> None:
        self._fetch = fetch
        self._tokens: dict[tuple[str, str, tuple[str, ...]], asyncio.Task[Token]] = {}

    async def get(
        self, challenge: Challenge, scopes: tuple[str, ...], credential: Credential | None
    ) -> Token:
        """A valid token for ``scopes``, fetching it unless one is cached."""
        key = (challenge.realm, challenge.service, tuple(sorted(scopes)))
        task = self._tokens.get(key)
        if task is not None and task.done():
            if task.exception() is not None or task.result().expires_at - _MARGIN < time.time():
                task = None
        if task is None:
            task = asyncio.ensure_future(self._fetch(challenge, key[2], credential))
            self._tokens[key] = task
        try:
            return await asyncio.shield(task)
        except BaseException:
            if task.done():
                self._tokens.pop(key, None)
            raise

    def invalidate(self, challenge: Challenge, scopes: tuple[str, ...]) -> None:
        """Forget a token the registry refused, so the next call fetches a fresh one."""
        self._tokens.pop((challenge.realm, challenge.service, tuple(sorted(scopes))), None)
