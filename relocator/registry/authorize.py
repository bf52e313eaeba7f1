"""What a registry request is authorised with, and what a 401 teaches.

Per host (kept in its HostState): the challenge its /v2/ answered (renewed by a 401 that brings a
new one) and the credential for it; per (realm, service, scope): the bearer tokens (auth.TokenCache,
fetched by realm.fetch_token). Credentials go to the registry's own origin only (``same_origin``).
"""

from __future__ import annotations

import aiohttp
from yarl import URL

from relocator.auth import Challenge, Credential, CredentialStore, Token, TokenCache, parse_challenge
from relocator.config import Settings
from relocator.registry.hosts import HostState
from relocator.registry.realm import fetch_token

__all__ = ["Authorizer", "same_origin"]


def same_origin(a: str | URL, b: str | URL) -> bool:
    """Whether two absolute URLs share scheme, host and port: aiohttp's test before it keeps
    Authorization on a redirect (``URL.origin()``), used here for every request."""
    try:
        return URL(a).origin() == URL(b).origin()
    except ValueError:  # relative, or not a URL at all: not the origin of our credentials
        return False


class Authorizer:
    """The Authorization headers of one run's requests (one per Transport)."""

    def __init__(self, session: aiohttp.ClientSession, settings: Settings,
                 credentials: CredentialStore) -> None:
        self.session = session
        self.settings = settings
        self.credentials = credentials
        self.tokens = TokenCache(self._fetch_token)

    async def meet(self, host: str, state: HostState, header: str) -> None:
        """Take up the ``WWW-Authenticate`` value ``host``'s /v2/ answered ("" for none) and
        look up the credential for ``host``."""
        state.challenge = parse_challenge(header) if header else None
        state.credential = await self.credentials.get(host)

    async def header(self, state: HostState, scopes: tuple[str, ...]) -> str:
        """The Authorization value for a request to the host of ``state`` under ``scopes``
        ("" for none): Basic from its credential, or a Bearer token for the scopes (the
        challenge's own when none are given). Raises AuthError when the realm refuses,
        TransportError when it cannot be reached."""
        challenge = state.challenge
        if challenge is None:
            return ""
        if challenge.scheme == "basic":
            return state.credential.basic_header if state.credential else ""
        wanted = scopes or ((challenge.scope,) if challenge.scope else ())
        token = await self.tokens.get(challenge, wanted, state.credential)
        return f"Bearer {token.value}" if token.value else ""

    async def learn(self, host: str, state: HostState, scopes: tuple[str, ...], header: str,
                    *, sent_auth: bool) -> bool:
        """Take up the challenge of a 401 from ``host``'s own origin (``header``: its
        ``WWW-Authenticate``); False when there is nothing new to try: none, or the one the
        refused request (``sent_auth``) answered already."""
        challenge = parse_challenge(header) if header else None
        if challenge is None or (state.challenge == challenge and sent_auth):
            return False
        if state.challenge is not None and state.challenge.scheme == "bearer":
            self.tokens.invalidate(state.challenge, scopes)
        state.challenge = _merge_scope(challenge)
        state.credential = await self.credentials.get(host)
        return True

    async def _fetch_token(
        self, challenge: Challenge, scopes: tuple[str, ...], credential: Credential | None
    ) -> Token:
        return await fetch_token(self.session, self.settings, challenge, scopes, credential)


def _merge_scope(challenge: Challenge) -> Challenge:
    # The scope belongs to the request that was refused, not the host; keep realm and service.
    params = {k: v for k, v in challenge.params.items() if k not in ("scope", "error")}
    return Challenge(challenge.scheme, params)
