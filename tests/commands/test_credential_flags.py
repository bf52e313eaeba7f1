"""Credentials on the command line in skopeo's and imgpkg's spellings, against registries that
require them (htpasswd and bearer token)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.images import sha256
from tests.registries import Registry

ROOT = Path(__file__).resolve().parents[2]
WARNING = "visible to other users of this machine"


def run(*args: str, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relocator", *args], capture_output=True, text=True,
                          timeout=300, input=stdin, env={**os.environ, "DOCKER_CONFIG": "/nonexistent",
                                                         **(env or {})})


@pytest.fixture(scope="module")
def private(basic_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An image in the htpasswd registry, pushed by skopeo with alice's password; its digest."""
    layout = tmp_path_factory.mktemp("creds") / "layout"
    subprocess.run([sys.executable, "-m", "scripts.make_layout", str(layout)], check=True, cwd=ROOT)
    subprocess.run(["skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", "--dest-creds",
                    "alice:s3cret-basic", f"oci:{layout}:demo", f"docker://{basic_registry.host}/priv/app:v1"],
                   check=True, timeout=120)
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", "alice:s3cret-basic",
                          f"docker://{basic_registry.host}/priv/app:v1"], check=True, capture_output=True)
    return sha256(out.stdout)


def raw(reg: Registry, ref: str, creds: str) -> bytes:
    return subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", creds,
                           f"docker://{reg.host}/{ref}"], check=True, capture_output=True).stdout


def test_src_and_dest_creds(basic_registry: Registry, token_registry: Registry, private: str) -> None:
    proc = run("relocate", "-i", f"{basic_registry.host}/priv/app:v1", "--prefix", f"{token_registry.host}/m",
               "--src-creds", "alice:s3cret-basic", "--dest-creds", "alice:s3cret-token")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(WARNING) == 1  # two passwords on the command line, one warning
    assert "s3cret" not in proc.stdout + proc.stderr
    assert sha256(raw(token_registry, "m/priv/app:v1", "alice:s3cret-token")) == private


def test_password_stdin_and_an_authfile(basic_registry: Registry, token_registry: Registry, private: str,
                                        tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    auth = base64.b64encode(b"alice:s3cret-token").decode()
    authfile.write_text(json.dumps({"auths": {token_registry.host: {"auth": auth}}}))
    proc = run("copy", f"docker://{basic_registry.host}/priv/app:v1", f"docker://{token_registry.host}/c/app:v1",
               "--src-creds", "alice", "--password-stdin", "--dest-authfile", str(authfile),
               stdin="s3cret-basic\n")
    assert proc.returncode == 0, proc.stderr
    assert WARNING not in proc.stderr
    assert sha256(raw(token_registry, "c/app:v1", "alice:s3cret-token")) == private


def test_imgpkg_spellings_and_anonymous(basic_registry: Registry, private: str, tmp_path: Path) -> None:
    ref = f"{basic_registry.host}/priv/app:v1"
    done = run("pkg", "-i", ref, "-o", str(tmp_path / "a.tar"), "--registry-username", "alice",
               "--registry-password", "s3cret-basic")
    assert done.returncode == 0, done.stderr
    # The environment has the right password; --registry-anon and --src-no-creds still go without.
    env = {"RELOCATOR_REGISTRY_HOSTNAME_0": basic_registry.host, "RELOCATOR_REGISTRY_USERNAME_0": "alice",
           "RELOCATOR_REGISTRY_PASSWORD_0": "s3cret-basic"}
    assert run("inspect", ref, env=env).returncode == 0
    for flag in ("--registry-anon", "--src-no-creds"):
        anon = run("inspect", ref, flag, env=env)
        assert anon.returncode == 1 and "401" in anon.stderr, (flag, anon.stderr)


@pytest.mark.parametrize(("args", "message"), [
    (["pkg", "-i", "127.0.0.1:1/a:v1", "-o", "/tmp/x.tar", "--dest-creds", "u:p"],
     "--dest-creds: this command writes to no registry"),
    (["inspect", "127.0.0.1:1/a:v1", "--src-creds", "alice"], "--src-creds alice: no password"),
    (["inspect", "127.0.0.1:1/a:v1", "--registry-username", "alice"],
     "--registry-username and --registry-password (or --password-stdin) go together"),
    (["inspect", "127.0.0.1:1/a:v1", "--password-stdin"], "--password-stdin: no --src-creds USER"),
])
def test_bad_credential_flags_are_refused_before_any_request(args: list[str], message: str) -> None:
    proc = run(*args, stdin="pw\n")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dest_creds_follow_the_destination_as_the_mapping_reads_it(
        basic_registry: Registry, token_registry: Registry, private: str) -> None:
    # --repository in skopeo's docker:// spelling: the credentials go to the host images go to.
    proc = run("relocate", "-i", f"{basic_registry.host}/priv/app:v1", "--repository",
               f"docker://{token_registry.host}/spelled/app", "--src-creds", "alice:s3cret-basic",
               "--dest-creds", "alice:s3cret-token")
    assert proc.returncode == 0, proc.stderr
    assert sha256(raw(token_registry, f"spelled/app@{private}", "alice:s3cret-token")) == private
