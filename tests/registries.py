"""Real CNCF distribution registries for tests: plain, htpasswd, bearer token, TLS."""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SERVICE = "relocator-test-registry"
ISSUER = "relocator-test-issuer"


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    """A running registry process and what a test needs to talk to it."""

    host: str
    scheme: str
    storage: Path
    log_path: Path
    proc: subprocess.Popen[bytes]
    username: str = ""
    password: str = field(default="", repr=False)
    ca_path: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def log(self) -> str:
        """The access log once it has settled: distribution writes a request's line after the
        answer has gone out, so a client can finish reading before the line is there (read
        until two reads 20 ms apart agree, up to a second)."""
        text = self.log_path.read_text(errors="replace")
        for _ in range(50):
            time.sleep(0.02)
            again = self.log_path.read_text(errors="replace")
            if again == text:
                break
            text = again
        return text

    def requests(self, method: str, path_pattern: str) -> int:
        """How many requests the access log shows for this method and path regex."""
        pat = re.compile(rf'"{method} (/v2/{path_pattern})(\?\S*)? HTTP')
        return sum(1 for line in self.log().splitlines() if pat.search(line))

    def skopeo_args(self) -> list[str]:
        """Flags that let skopeo reach this registry."""
        args: list[str] = []
        if self.scheme == "http":
            args.append("--tls-verify=false")
        elif self.ca_path is not None:
            certdir = self.ca_path.parent / "skopeo-certs"
            certdir.mkdir(exist_ok=True)
            shutil.copy(self.ca_path, certdir / "ca.crt")
            args.append(f"--cert-dir={certdir}")
        if self.username:
            args.append(f"--creds={self.username}:{self.password}")
        return args

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_registry(
    workdir: Path, *, auth: dict[str, Any] | None = None, tls: tuple[Path, Path] | None = None,
    ca_path: Path | None = None, username: str = "", password: str = "",
    extra: dict[str, Any] | None = None,
) -> Registry:
    """Start ``docker-registry serve`` on 127.0.0.1 with an ephemeral port; wait for /v2/.

    ``extra`` adds top-level sections to the registry's config (``validation``, say)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    storage = workdir / "storage"
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)}
    if tls:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    if auth:
        config["auth"] = auth
    config.update(extra or {})
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log_path = workdir / "registry.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
        )
    scheme = "https" if tls else "http"
    reg = Registry(f"127.0.0.1:{port}", scheme, storage, log_path, proc, username, password, ca_path)
    ctx = ssl.create_default_context(cafile=str(ca_path)) if ca_path else None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited: {reg.log()[-2000:]}")
        try:
            urllib.request.urlopen(f"{reg.url}/v2/", timeout=1, context=ctx)
            return reg
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return reg
        except OSError:
            pass
        time.sleep(0.05)
    reg.stop()
    raise RuntimeError(f"registry did not answer /v2/ in time: {reg.log()[-2000:]}")


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file with bcrypt entries, as distribution requires."""
    lines = [f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(5)).decode()}" for u, p in users.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues JWTs signed with a test key, carrying the key's certificate in ``x5c``.

    Users and what they may do: ``{"alice": ("secret", {"pull", "push"})}``. The server grants
    the requested actions intersected with the user's rights, so a pull-only user gets a
    token the registry refuses for a push.
    """

    def __init__(self, workdir: Path, users: dict[str, tuple[str, set[str]]]) -> None:
        self.users = users
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relocator test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = workdir / "token-root.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(req.path).query)
        user, rights = "", set()
        header = req.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            known = self.users.get(name)
            if known is None or known[0] != password:
                req.send_response(401)
                req.send_header("Content-Type", "application/json")
                req.end_headers()
                req.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                return
            user, rights = name, known[1]
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            granted = sorted(set(actions.split(",")) & rights)
            access.append({"type": kind, "name": repo, "actions": granted})
        self.requests.append({"user": user, "scopes": query.get("scope", [])})
        token = self.sign({"sub": user, "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    def sign(self, claims: dict[str, Any]) -> str:
        now = int(time.time())
        header = {
            "typ": "JWT", "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        payload = {"iss": ISSUER, "aud": SERVICE, "iat": now, "nbf": now - 10, "exp": now + 300,
                   "jti": secrets.token_hex(8), **claims}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"

    def auth_config(self) -> dict[str, Any]:
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER,
                          "rootcertbundle": str(self.bundle)}}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
