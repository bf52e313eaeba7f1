"""The bearer-token handshake with a registry's realm: the HTTP half of auth.TokenCache."""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import aiohttp

from relocator.auth import Challenge, Credential, Token
from relocator.config import Settings
from relocator.errors import AuthError
from relocator.registry.bodies import read_body, size_text
from relocator.registry.errormap import error_from, redact_url, translate_errors
from relocator.registry.stalls import SpeedFloor

__all__ = ["fetch_token", "who"]

_MAX_TOKEN_BODY = 1 << 20  # a JWT with its certificate chain is a few KiB


def who(credential: Credential | None) -> str:
    """``user 'NAME'`` or ``anonymous access``, for error messages (never the secret)."""
    return f"user {credential.username!r}" if credential and credential.username else "anonymous access"


async def fetch_token(
    session: aiohttp.ClientSession, settings: Settings, challenge: Challenge, scopes: tuple[str, ...],
    credential: Credential | None,
) -> Token:
    """A token for ``scopes`` from the challenge's realm; raises AuthError when refused or unreadable,
    TransportError when the realm cannot be reached. Docker token spec (distribution
    docs/spec/auth/token.md) and its OAuth2 variant (docs/spec/auth/oauth.md)."""
    # 1. Identity tokens are OAuth2 refresh tokens: POST them to the realm.
    # 2. Otherwise GET the realm with service and scopes, with Basic auth if we have a user.
    # 3. Anonymous: the same GET without auth; the registry then decides what we may do.
    realm = challenge.realm
    host = urlsplit(realm).netloc or realm
    query: list[tuple[str, str]] = [("service", challenge.service)] if challenge.service else []
    query += [("scope", s) for s in scopes]
    try:
        with translate_errors("GET", realm, host):
            if credential is not None and credential.identity_token:
                form = dict(query[:1])
                form.update(
                    grant_type="refresh_token",
                    refresh_token=credential.identity_token,
                    client_id="relocator",
                    scope=" ".join(scopes),
                )
                resp = await session.post(realm, data=form)
            else:
                headers = {}
                if credential is not None and credential.username:
                    headers["Authorization"] = credential.basic_header
                resp = await session.get(realm, params=query, headers=headers)
            async with resp:
                if resp.status != 200:
                    error = await error_from(resp, "GET", realm, host, SpeedFloor(host, settings))
                    raise AuthError(
                        f"token server {host} refused {who(credential)}: {error}",
                        status=resp.status,
                        url=redact_url(realm),
                    )
                raw = await read_body(resp, _MAX_TOKEN_BODY, SpeedFloor(host, settings))
        if raw is None:
            raise AuthError(f"token server {host} sent more than {size_text(_MAX_TOKEN_BODY)}")
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except ValueError:
        raise AuthError(f"token server {host} sent no JSON token") from None
    value = str(doc.get("token") or doc.get("access_token") or "")
    expires_in = float(doc.get("expires_in") or 60)
    return Token(value, time.time() + expires_in)
