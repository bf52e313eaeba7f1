"""Credential lookup order and secrecy."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time
from pathlib import Path

import pytest

from relocator.auth import Challenge, Credential, CredentialStore, Token, TokenCache
from relocator.errors import AuthError

NOWHERE = Path("/nonexistent/config.json")


async def test_env_variables_and_kbld_spellings() -> None:
    env = {
        "RELOCATOR_REGISTRY_HOSTNAME_0": "reg.example:5000",
        "RELOCATOR_REGISTRY_USERNAME_0": "bob",
        "RELOCATOR_REGISTRY_PASSWORD_0": "hunter2",
        "KBLD_REGISTRY_HOSTNAME_1": "https://index.docker.io/v1/",
        "KBLD_REGISTRY_IDENTITY_TOKEN_1": "refresh-xyz",
        "KBLD_REGISTRY_HOSTNAME": "plain.example",
        "KBLD_REGISTRY_USERNAME": "carol",
        "KBLD_REGISTRY_PASSWORD": "pw",
    }
    store = CredentialStore(environ=env, docker_config=NOWHERE)
    assert await store.get("reg.example:5000") == Credential("bob", "hunter2")
    hub = await store.get("docker.io")
    assert hub is not None and hub.identity_token == "refresh-xyz"
    assert await store.get("plain.example") == Credential("carol", "pw")
    assert await store.get("other.example") is None


async def test_explicit_wins_over_env(tmp_path: Path) -> None:
    env = {"RELOCATOR_REGISTRY_HOSTNAME_0": "r.example", "RELOCATOR_REGISTRY_USERNAME_0": "env",
           "RELOCATOR_REGISTRY_PASSWORD_0": "envpw"}
    store = CredentialStore({"r.example": Credential("flag", "flagpw")}, environ=env, docker_config=NOWHERE)
    assert await store.get("r.example") == Credential("flag", "flagpw")


async def test_docker_config_auths(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hubuser:hubpw").decode()},
        "r.example": {"identitytoken": "idtok"},
        "u.example": {"username": "u", "password": "p"},
    }}))
    store = CredentialStore(environ={}, docker_config=config)
    assert await store.get("docker.io") == Credential("hubuser", "hubpw")
    r = await store.get("r.example")
    assert r is not None and r.identity_token == "idtok"
    assert await store.get("u.example") == Credential("u", "p")
    # DOCKER_CONFIG is honoured when no path is given.
    via_env = CredentialStore(environ={"DOCKER_CONFIG": str(tmp_path)})
    assert await via_env.get("u.example") == Credential("u", "p")


def _helper(bindir: Path, name: str, body: str) -> None:
    path = bindir / f"docker-credential-{name}"
    path.write_text(f"#!/bin/sh\nread server\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


async def test_cred_helpers_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _helper(bindir, "per", 'echo "{\\"Username\\":\\"h-$server\\",\\"Secret\\":\\"hs\\"}"')
    _helper(bindir, "store", 'echo "{\\"Username\\":\\"<token>\\",\\"Secret\\":\\"tok-$server\\"}"')
    _helper(bindir, "none", "echo credentials not found >&2; exit 1")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {"h.example": "per", "n.example": "none"},
                                  "credsStore": "store"}))
    store = CredentialStore(environ={}, docker_config=config)
    assert await store.get("h.example") == Credential("h-h.example", "hs")
    s = await store.get("s.example")
    assert s is not None and s.identity_token == "tok-s.example"
    assert await store.get("n.example") is None


async def test_missing_helper_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credsStore": "does-not-exist"}))
    with pytest.raises(AuthError, match=r"docker-credential-does-not-exist for x\.example"):
        await CredentialStore(environ={}, docker_config=config).get("x.example")


def test_secrets_never_in_repr() -> None:
    for cred in (Credential("user", "hunter2"), Credential(identity_token="tok-secret")):
        for text in (repr(cred), str(cred), f"{cred}", repr([cred])):
            assert "hunter2" not in text and "tok-secret" not in text
    assert repr(Token("tok-secret", 0)).count("tok-secret") == 0


async def test_token_cache_fetches_each_scope_once() -> None:
    calls: list[tuple[str, ...]] = []

    async def fetch(ch: Challenge, scopes: tuple[str, ...], cred: Credential | None) -> Token:
        calls.append(scopes)
        await asyncio.sleep(0.01)
        return Token(f"t{len(calls)}", time.time() + 300)

    cache = TokenCache(fetch)
    ch = Challenge("bearer", {"realm": "r", "service": "s"})
    tokens = await asyncio.gather(*(cache.get(ch, ("a", "b"), None) for _ in range(10)))
    assert {t.value for t in tokens} == {"t1"} and calls == [("a", "b")]
    assert (await cache.get(ch, ("b", "a"), None)).value == "t1"  # order does not matter
    await cache.get(ch, ("c",), None)
    cache.invalidate(ch, ("c",))
    await cache.get(ch, ("c",), None)
    assert len(calls) == 3
