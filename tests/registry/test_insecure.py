"""``--registry-insecure HOST``: plain HTTP to a host that is not loopback, on every port of it
when no port is given (kbld's flag takes HOST or HOST:PORT)."""

from __future__ import annotations

import random
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver

from relocator.auth import CredentialStore
from relocator.config import RetryPolicy, Settings, TLSSettings
from relocator.errors import TransportError
from relocator.oci import Reference
from relocator.registry import RegistryClient, Transport
from tests.images import seed, valid_image
from tests.registries import Registry

NAME = "plain.registry.test"  # not loopback by name, so only the flag allows plain HTTP


class _ToLoopback(AbstractResolver):
    """Resolves ``NAME`` to 127.0.0.1, where the real registry listens."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[dict[str, Any]]:
        assert host == NAME
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(("flag", "plain_http"), [
    (NAME, True), ("PLAIN.Registry.test", True), (f"{NAME}:{{port}}", True), (f"{NAME}:1", False),
    ("other.test", False)])
async def test_insecure_host_without_port_covers_every_port(registry: Registry, flag: str,
                                                            plain_http: bool) -> None:
    image = valid_image(random.Random(95), (500,))
    seed(registry, "insecure/app", "v1", image)
    port = registry.host.rsplit(":", 1)[1]
    settings = Settings(tls=TLSSettings(insecure_registries=frozenset({flag.format(port=port)})),
                        retry=RetryPolicy(attempts=1))
    credentials = CredentialStore({}, environ={}, docker_config=Path("/nonexistent/config.json"))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_ToLoopback())) as session:
        client = RegistryClient(Transport(session, settings, credentials))
        ref = Reference.parse(f"{NAME}:{port}/insecure/app:v1")
        if plain_http:
            assert str((await client.get_manifest(ref)).digest) == image.digest
        else:
            with pytest.raises(TransportError):  # HTTPS to a plain-HTTP server: never downgraded
                await client.get_manifest(ref)
