"""No secret leaves the process: a unique password planted in each credential source (environment,
Docker config ``auths``, a credential helper, a token server's user) never appears in anything a
run prints or writes, at ``--debug``, with ``--json``, in lock files, results, tarballs or errors."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.registries import Registry, TokenServer, htpasswd_file, start_registry

ROOT = Path(__file__).resolve().parents[2]


def test_planted_secrets_never_appear_in_output(tmp_path: Path) -> None:
    plant = {name: f"{name}-{secrets.token_hex(12)}" for name in ("env", "cfg", "helper", "tok")}
    users = {"env": "envuser", "cfg": "cfguser", "helper": "helperuser", "tok": "tokuser"}
    started: list[Registry] = []
    (tmp_path / "tokens").mkdir()
    tokens = TokenServer(tmp_path / "tokens", {"tokuser": (plant["tok"], {"pull", "push"})})
    try:
        regs: dict[str, Registry] = {}
        for name in ("env", "cfg", "helper"):
            path = htpasswd_file(tmp_path / f"{name}.htpasswd", {users[name]: plant[name]})
            regs[name] = start_registry(tmp_path / name, auth={"htpasswd": {"realm": "t", "path": str(path)}},
                                        username=users[name], password=plant[name])
            started.append(regs[name])
        regs["tok"] = start_registry(tmp_path / "tok", auth=tokens.auth_config(), username="tokuser",
                                     password=plant["tok"])
        started.append(regs["tok"])
        layout = tmp_path / "layout"
        subprocess.run([sys.executable, "-m", "scripts.make_layout", str(layout)], check=True, cwd=ROOT)
        for name in ("env", "cfg", "helper"):
            subprocess.run(["skopeo", "copy", "-q", "--all", "--dest-tls-verify=false", "--dest-creds",
                            f"{users[name]}:{plant[name]}", f"oci:{layout}:demo",
                            f"docker://{regs[name].host}/s/{name}:v1"], check=True, timeout=120)

        config_dir, bindir, work = tmp_path / "docker", tmp_path / "bin", tmp_path / "work"
        for d in (config_dir, bindir, work):
            d.mkdir()
        auth = base64.b64encode(f"cfguser:{plant['cfg']}".encode()).decode()
        (config_dir / "config.json").write_text(json.dumps({
            "auths": {regs["cfg"].host: {"auth": auth}}, "credHelpers": {regs["helper"].host: "plant"}}))
        helper = bindir / "docker-credential-plant"
        helper.write_text("#!/bin/sh\nread server\n"
                          f"echo '{{\"Username\":\"helperuser\",\"Secret\":\"{plant['helper']}\"}}'\n")
        helper.chmod(0o755)
        env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
               "DOCKER_CONFIG": str(config_dir),
               "RELOCATOR_STATE_DIR": str(tmp_path / "state"),
               "RELOCATOR_REGISTRY_HOSTNAME_0": regs["env"].host, "RELOCATOR_REGISTRY_USERNAME_0": "envuser",
               "RELOCATOR_REGISTRY_PASSWORD_0": plant["env"],
               "RELOCATOR_REGISTRY_HOSTNAME_1": regs["tok"].host, "RELOCATOR_REGISTRY_USERNAME_1": "tokuser",
               "RELOCATOR_REGISTRY_PASSWORD_1": plant["tok"]}
        refs = [f"-i{regs[n].host}/s/{n}:v1" for n in ("env", "cfg", "helper")]
        dst = regs["tok"].host
        outputs: list[str] = []

        def run(*args: str, environ: dict[str, str] = env) -> int:
            proc = subprocess.run([sys.executable, "-m", "relocator", *args, "--debug"], capture_output=True,
                                  text=True, timeout=300, env=environ, cwd=work)
            outputs.extend([proc.stdout, proc.stderr])
            return proc.returncode

        assert run("relocate", *refs, "--prefix", f"{dst}/m", "--lock-output", "r.lock", "--json") == 0
        assert run("relocate", *refs, f"-i{regs['env'].host}/s/missing:v1", "--prefix", f"{dst}/m") == 1
        assert run("pkg", *refs, "-o", "all.tar", "--lock-output", "p.lock") == 0
        assert run("unpkg", "-i", "all.tar", "--prefix", f"{dst}/u", "--json") == 0
        assert run("sync", f"{regs['env'].host}/s/env", f"{dst}/sync", "--results", "r.jsonl", "--json") == 0
        assert run("inspect", f"{regs['cfg'].host}/s/cfg:v1") == 0
        wrong = {**env, "RELOCATOR_REGISTRY_PASSWORD_0": plant["env"] + "-wrong"}
        assert run("relocate", f"-i{regs['env'].host}/s/env:v1", "--prefix", f"{dst}/w", environ=wrong) == 1
        assert "401" in outputs[-1] or "unauthorized" in outputs[-1].lower()

        written = [p.read_bytes() for p in work.rglob("*") if p.is_file()]
        assert {p.name for p in work.iterdir()} >= {"r.lock", "all.tar", "p.lock", "r.jsonl"}
        text = "\n".join(outputs).encode() + b"\n".join(p.read_bytes() for p in work.glob("*.lock"))
        for name, secret in plant.items():
            basic = base64.b64encode(f"{users[name]}:{secret}".encode())
            for blob in [*written, "\n".join(outputs).encode()]:
                assert secret.encode() not in blob, name
                assert basic not in blob, name
        assert b"eyJ" not in text  # no JWT (bearer token) in any printed line or lock file
        assert b"Authorization" not in text.replace(b"Authorization: <redacted>", b"")
    finally:
        for reg in started:
            reg.stop()
        tokens.stop()
