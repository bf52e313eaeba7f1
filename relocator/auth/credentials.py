"""Credential lookup: flags, environment, Docker config and credential helpers, anonymous."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from relocator.errors import AuthError
from relocator.oci.reference import canonical_registry, hub_config_key

__all__ = ["ANY_HOST", "Credential", "CredentialStore", "env_credentials"]

_ENV_PREFIXES = ("RELOCATOR_REGISTRY_", "KBLD_REGISTRY_")


@dataclass(frozen=True, slots=True)
class Credential:
    """A username and password, or an identity token; secrets stay out of repr."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        secret = "identity_token=<redacted>" if self.identity_token else "password=<redacted>"
        return f"Credential(username={self.username!r}, {secret})"

    def __str__(self) -> str:
        return repr(self)

    @property
    def basic_header(self) -> str:
        """``Basic base64(user:password)`` for Basic auth and token requests."""
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def env_credentials(environ: Mapping[str, str]) -> dict[str, Credential]:
    """Credentials from ``RELOCATOR_REGISTRY_HOSTNAME_n`` (or kbld's ``KBLD_REGISTRY_*``)."""
    found: dict[str, Credential] = {}
    for prefix in _ENV_PREFIXES:
        for key, value in environ.items():
            if not key.startswith(prefix + "HOSTNAME"):
                continue
            suffix = key[len(prefix + "HOSTNAME") :]
            cred = Credential(
                username=environ.get(f"{prefix}USERNAME{suffix}", ""),
                password=environ.get(f"{prefix}PASSWORD{suffix}", ""),
                identity_token=environ.get(f"{prefix}IDENTITY_TOKEN{suffix}", ""),
            )
            for host in value.split(","):
                found.setdefault(canonical_registry(host), cred)
    return found


ANY_HOST = "*"


class CredentialStore:
    """Finds the credential for a registry host, each lookup done once per run."""

    def __init__(
        self,
        explicit: Mapping[str, Credential] | None = None,
        environ: Mapping[str, str] | None = None,
        docker_config: Path | None = None,
        *,
        anonymous: Iterable[str] = (),
        host_configs: Mapping[str, Path] | None = None,
    ) -> None:
        """``explicit`` credentials (command-line flags) win, then ``host_configs`` (a Docker
        config file for some hosts: ``--src-authfile``), then the environment, then the Docker
        config; hosts in ``anonymous`` get no credential at all. The host ``*`` in any of the
        three stands for every host not named otherwise (a command that only reads, say)."""
        env = os.environ if environ is None else environ
        self._explicit = {canonical_registry(h): c for h, c in (explicit or {}).items()}
        self._anonymous = {canonical_registry(h) for h in anonymous}
        self._host_configs = {canonical_registry(h): p for h, p in (host_configs or {}).items()}
        self._env = env_credentials(env)
        if docker_config is None:
            base = env.get("DOCKER_CONFIG")
            docker_config = Path(base) / "config.json" if base else Path.home() / ".docker/config.json"
        self._config_path = docker_config
        self._cache: dict[str, Credential | None] = {}

    async def get(self, host: str) -> Credential | None:
        """The credential for ``host`` (flags, env, Docker config, helper), or None for anonymous."""
        host = canonical_registry(host)
        if host not in self._cache:
            key = host if host in self._explicit or host in self._host_configs else ANY_HOST
            if host in self._anonymous or (key == ANY_HOST and ANY_HOST in self._anonymous):
                self._cache[host] = None
            elif key in self._explicit:
                self._cache[host] = self._explicit[key]
            elif key in self._host_configs:
                self._cache[host] = await self._from_docker_config(host, self._host_configs[key])
            else:
                self._cache[host] = self._env.get(host) or (
                    await self._from_docker_config(host, self._config_path))
        return self._cache[host]

    @staticmethod
    def _load_config(path: Path) -> dict[str, object]:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AuthError(f"cannot read Docker config {path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    async def _from_docker_config(self, host: str, path: Path) -> Credential | None:
        config = self._load_config(path)
        helpers = config.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if canonical_registry(key) == host:
                    return await _run_helper(str(helper), key)
        auths = config.get("auths") or {}
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if canonical_registry(key) == host and isinstance(entry, dict):
                    cred = _from_auth_entry(entry)
                    if cred is not None:
                        return cred
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            server = hub_config_key(host)
            return await _run_helper(store, server)
        return None


def _from_auth_entry(entry: Mapping[str, object]) -> Credential | None:
    token = str(entry.get("identitytoken") or "")
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            username, _, password = base64.b64decode(auth).decode().partition(":")
        except ValueError:
            raise AuthError("Docker config has an 'auth' entry that is not base64 user:password") from None
    if not (username or password or token):
        return None
    return Credential(username, password, token)


async def _run_helper(name: str, server: str) -> Credential | None:
    program = f"docker-credential-{name}"
    try:
        proc = await asyncio.create_subprocess_exec(
            program,
            "get",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise AuthError(f"credential helper {program} for {server}: {exc.strerror}") from None
    out, _ = await proc.communicate(server.encode())
    if proc.returncode != 0:
        # Helpers answer "credentials not found" with a non-zero exit: anonymous then.
        return None
    try:
        data = json.loads(out)
        username, secret = str(data.get("Username", "")), str(data["Secret"])
    except (ValueError, KeyError, AttributeError):
        raise AuthError(f"credential helper {program} for {server}: unreadable answer") from None
    if username == "<token>":
        return Credential(identity_token=secret)
    return Credential(username, secret)
