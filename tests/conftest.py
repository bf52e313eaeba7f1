"""Real-registry fixtures: anonymous, htpasswd, bearer token and TLS."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trustme

from relocator.auth import Credential, CredentialStore
from relocator.config import RetryPolicy, Settings, TLSSettings
from relocator.registry import RegistryClient, Transport, open_session
from tests.referrers import ReferrersFront
from tests.registries import Registry, TokenServer, htpasswd_file, start_registry

for tool in ("docker-registry", "skopeo"):
    if shutil.which(tool) is None:
        raise RuntimeError(f"{tool} is not installed: run .ci/run or apt-get install docker-registry skopeo")


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own state directory (run locks, sync memos, kept upload sessions), also for the
    commands it runs: nothing a test leaves there reaches another test or the user's own."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("RELOCATOR_STATE_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Anonymous plain-HTTP registry."""
    reg = start_registry(tmp_path_factory.mktemp("plain"))
    yield reg
    reg.stop()


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[Registry]:
    """An empty anonymous registry of the test's own, for counting requests."""
    reg = start_registry(tmp_path / "fresh")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Registry behind htpasswd basic auth (user alice / s3cret-basic)."""
    work = tmp_path_factory.mktemp("basic")
    path = htpasswd_file(work / "htpasswd", {"alice": "s3cret-basic"})
    reg = start_registry(work, auth={"htpasswd": {"realm": "relocator-test", "path": str(path)}},
                         username="alice", password="s3cret-basic")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    """A JWT token server: alice may pull, push and delete, reader may only pull."""
    server = TokenServer(tmp_path_factory.mktemp("tokens"), {
        "alice": ("s3cret-token", {"pull", "push", "delete"}),
        "reader": ("s3cret-reader", {"pull"}),
    })
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer) -> Iterator[Registry]:
    """Registry with bearer-token auth through ``token_server``."""
    reg = start_registry(tmp_path_factory.mktemp("token"), auth=token_server.auth_config(),
                         username="alice", password="s3cret-token")
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory, tls_ca: trustme.CA) -> Iterator[Registry]:
    """Registry serving HTTPS with a certificate from a CA made for the test."""
    work = tmp_path_factory.mktemp("tls")
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = work / "cert.pem", work / "key.pem", work / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    tls_ca.cert_pem.write_to_path(str(ca_path))
    reg = start_registry(work, tls=(cert_path, key_path), ca_path=ca_path)
    yield reg
    reg.stop()


ClientFactory = Callable[..., "AsyncIterator[RegistryClient]"]


def settings_for(reg: Registry | None = None, **kw: object) -> Settings:
    """Settings with fast retries, trusting the registry's CA if it has one."""
    tls = TLSSettings(ca_cert_paths=(reg.ca_path,) if reg and reg.ca_path else ())
    retry = kw.pop("retry", RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2))
    return Settings(tls=kw.pop("tls", tls), retry=retry, **kw)  # type: ignore[arg-type]


def credentials_for(reg: Registry | None, username: str | None = None,
                    password: str | None = None) -> CredentialStore:
    """A credential store that knows only the given registry's user (no env, no config)."""
    explicit = {}
    if reg is not None and (username or reg.username):
        explicit[reg.host] = Credential(username or reg.username, password or reg.password)
    return CredentialStore(explicit, environ={}, docker_config=Path("/nonexistent/config.json"))


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., RegistryClient]]:
    """Build RegistryClients whose sessions close when the test ends."""
    sessions = []

    def build(reg: Registry | None = None, *, settings: Settings | None = None,
              username: str | None = None, password: str | None = None) -> RegistryClient:
        s = settings or settings_for(reg)
        session = open_session(s)
        sessions.append(session)
        return RegistryClient(Transport(session, s, credentials_for(reg, username, password)))

    yield build
    for session in sessions:
        await session.close()


@pytest.fixture
def referrers_front(registry: Registry) -> Iterator[ReferrersFront]:
    """The session registry behind a front that serves the OCI 1.1 Referrers API (tests/referrers.py)."""
    front = ReferrersFront(registry).start()
    yield front
    front.stop()
