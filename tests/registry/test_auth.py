"""Every kind of registry the client must reach: anonymous, basic, bearer token, TLS."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

from relocator.config import TLSSettings
from relocator.errors import AuthError, TransportError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.registry import RegistryClient
from tests.conftest import settings_for
from tests.images import random_image, sha256, skopeo_raw_manifest
from tests.registries import Registry, TokenServer
from tests.registry.test_client import opener_for

MakeClient = Callable[..., RegistryClient]


async def push_image(client: RegistryClient, reg: Registry, repo: str, tag: str, seed: int) -> str:
    image = random_image(random.Random(seed), (2048, 4096))
    repository = Repository(reg.host, repo)
    for digest, data in image.blobs.items():
        desc = Descriptor("application/octet-stream", Digest.parse(digest), len(data))
        await client.push_blob(repository, desc, opener_for(data))
    manifest = Manifest.parse(image.raw, image.media_type)
    await client.put_manifest(Reference.parse(f"{reg.host}/{repo}:{tag}"), manifest)
    got = await client.get_manifest(Reference.parse(f"{reg.host}/{repo}:{tag}"))
    assert got.raw == image.raw
    return image.digest


@pytest.mark.parametrize("kind", ["registry", "basic_registry", "token_registry", "tls_registry"])
async def test_round_trip_on_every_kind(kind: str, request: pytest.FixtureRequest,
                                        make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reg: Registry = request.getfixturevalue(kind)
    client = make_client(reg)
    digest = await push_image(client, reg, f"auth/{kind}", "v1", seed=hash(kind) % 1000)
    assert sha256(skopeo_raw_manifest(reg, f"auth/{kind}:v1")) == digest
    expected_base = ("https://" if kind == "tls_registry" else "http://") + reg.host
    assert await client.transport.base_url(reg.host) == expected_base
    assert f"PUT {expected_base}/v2/auth/{kind}/manifests/v1 -> 201" in caplog.text
    if reg.password:
        assert reg.password not in caplog.text
    assert "Bearer ey" not in caplog.text and "Basic " not in caplog.text


async def test_wrong_password_is_one_line_naming_registry(basic_registry: Registry,
                                                           make_client: MakeClient) -> None:
    client = make_client(basic_registry, password="wrong-password-123")
    with pytest.raises(AuthError) as info:
        await client.get_manifest(Reference.parse(f"{basic_registry.host}/auth/x:v1"))
    text = str(info.value)
    assert basic_registry.host in text and "401" in text and "alice" in text
    assert "\n" not in text and "wrong-password-123" not in text and "s3cret" not in text


async def test_token_wrong_password(token_registry: Registry, make_client: MakeClient) -> None:
    client = make_client(token_registry, password="not-it")
    with pytest.raises(AuthError, match=r"token server 127\.0\.0\.1:\d+ refused user 'alice'") as info:
        await client.head_manifest(Reference.parse(f"{token_registry.host}/auth/x:v1"))
    assert "not-it" not in str(info.value)


async def test_token_without_push_scope_is_refused(token_registry: Registry, token_server: TokenServer,
                                                   make_client: MakeClient) -> None:
    writer = make_client(token_registry)
    await push_image(writer, token_registry, "auth/readonly", "v1", seed=11)
    reader = make_client(token_registry, username="reader", password="s3cret-reader")
    got = await reader.head_manifest(Reference.parse(f"{token_registry.host}/auth/readonly:v1"))
    assert got is not None  # pull is allowed
    with pytest.raises(AuthError) as info:
        await push_image(reader, token_registry, "auth/readonly", "v2", seed=12)
    text = str(info.value)
    assert token_registry.host in text and "reader" in text and "push" in text
    assert "\n" not in text and "s3cret-reader" not in text
    asked = [r for r in token_server.requests if r["user"] == "reader"]
    assert any("repository:auth/readonly:pull,push" in r["scopes"] for r in asked)


async def test_tls_without_ca_names_the_cause(tls_registry: Registry, make_client: MakeClient) -> None:
    client = make_client(tls_registry, settings=settings_for(None))
    with pytest.raises(TransportError) as info:
        await client.head_manifest(Reference.parse(f"{tls_registry.host}/auth/x:v1"))
    text = str(info.value)
    assert tls_registry.host in text and "certificate" in text and "--registry-ca-cert-path" in text
    assert not info.value.temporary


async def test_tls_verification_can_be_turned_off(tls_registry: Registry, make_client: MakeClient) -> None:
    client = make_client(tls_registry, settings=settings_for(None, tls=TLSSettings(verify=False)))
    assert await client.head_manifest(Reference.parse(f"{tls_registry.host}/auth/none:v1")) is None
    assert await client.transport.base_url(tls_registry.host) == f"https://{tls_registry.host}"


async def test_non_loopback_host_never_uses_plain_http(make_client: MakeClient) -> None:
    # 127.0.0.2 is loopback too; a name that is not loopback must not fall back to http.
    from relocator.registry.transport import _is_loopback

    assert _is_loopback("127.0.0.1:5000") and _is_loopback("localhost:1") and _is_loopback("[::1]:5000")
    assert not _is_loopback("registry.example:5000") and not _is_loopback("10.0.0.1")
