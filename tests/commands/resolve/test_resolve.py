"""resolve against a real registry, compared with golden files.

Inputs and expected outputs live in golden/ with placeholders ({REGISTRY}, {WEB_DIGEST}, ...)
filled in at run time, since the registry's port changes from run to run. The images are
built from fixed seeds, so their digests are the same every run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.images import Image, random_image, random_index, seed
from tests.registries import Registry, start_registry

GOLDEN = Path(__file__).parent / "golden"
CASES = ["deployment", "helm", "list", "kbld-config", "documents"]


def _images() -> dict[str, Image]:
    return {
        "apps/web:1.0": random_image(random.Random(101), (1000,)),
        "apps/worker:2.1": random_image(random.Random(102), (1000,), docker=True),
        "apps/sidecar:0.3": random_image(random.Random(103), (1000,)),
        "apps/multi:1.0": random_index([random_image(random.Random(104)), random_image(random.Random(105))]),
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A registry of this module's own holding the golden images; placeholders to fill in."""
    reg = start_registry(tmp_path_factory.mktemp("resolve"))
    values = {"REGISTRY": reg.host}
    for name, image in _images().items():
        repo, tag = name.split(":")
        seed(reg, repo, tag, image)
        key = repo.split("/")[1].upper() + "_DIGEST"
        values[key] = image.digest
    yield values
    reg.stop()


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_CONFIG": "/nonexistent"}
    return subprocess.run([sys.executable, "-m", "relocator", "resolve", *args], capture_output=True,
                          text=True, timeout=120, input=stdin, env=env)


def _input(case: str, values: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / f"{case}.yaml"
    path.write_text(fill((GOLDEN / f"{case}.yaml").read_text(), values))
    return path


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, seeded: dict[str, str], tmp_path: Path) -> None:
    proc = run("-f", str(_input(case, seeded, tmp_path)))
    assert proc.returncode == 0, proc.stderr
    expected_path = GOLDEN / f"{case}.out.yaml"
    if os.environ.get("REGEN_GOLDEN"):
        text = proc.stdout
        for key, value in sorted(seeded.items(), key=lambda kv: -len(kv[1])):
            text = text.replace(value, "{" + key + "}")
        expected_path.write_text(text)
    assert proc.stdout == fill(expected_path.read_text(), seeded)


def test_lock_round_trip_needs_no_registry(tmp_path: Path) -> None:
    reg = start_registry(tmp_path / "reg")
    values = {"REGISTRY": reg.host}
    for name, image in _images().items():
        repo, tag = name.split(":")
        seed(reg, repo, tag, image)
        values[repo.split("/")[1].upper() + "_DIGEST"] = image.digest
    files = [str(_input(c, values, tmp_path)) for c in CASES]
    lock, imgpkg = tmp_path / "images.lock", tmp_path / "imgpkg.lock"
    first = run(*[a for f in files for a in ("-f", f)], "--lock-output", str(lock),
                "--imgpkg-lock-output", str(imgpkg))
    assert first.returncode == 0, first.stderr
    reg.stop()
    assert "kind: ImagesLock" in imgpkg.read_text()
    assert "kbld.carvel.dev/id" in imgpkg.read_text()
    again = run(*[a for f in files for a in ("-f", f)], "-f", str(lock))
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    without_lock = run("-f", files[0])
    assert without_lock.returncode == 1 and reg.host in without_lock.stderr


def test_errors_name_file_document_and_path(seeded: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(fill("kind: A\n---\nkind: Pod\nspec:\n  containers:\n  - image: {REGISTRY}/apps/web:nope\n"
                        "  - image: Bad/Ref\n", seeded))
    lock = tmp_path / "out.lock"
    proc = run("-f", str(bad), "--lock-output", str(lock))
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, lines
    assert f"{bad}: document 1: spec.containers[1].image" in proc.stderr and "Bad/Ref" in proc.stderr
    assert f"{bad}: document 1: spec.containers[0].image: {seeded['REGISTRY']}/apps/web:nope" in proc.stderr
    assert "not found" in proc.stderr or "404" in proc.stderr
    assert not lock.exists()


def test_pinned_kept_without_lookup_and_annotation(seeded: dict[str, str], tmp_path: Path) -> None:
    text = fill("kind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n"
                "  - image: {REGISTRY}/apps/sidecar@{SIDECAR_DIGEST}\n"
                "  - image: {REGISTRY}/apps/web:1.0\n", seeded)
    proc = run("-f", "-", "--images-annotation", stdin=text)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"image: {seeded['REGISTRY']}/apps/sidecar@{seeded['SIDECAR_DIGEST']}" in out
    assert f"image: {seeded['REGISTRY']}/apps/web@{seeded['WEB_DIGEST']}" in out
    assert ("kbld.k14s.io/images: |" in out and "tag: '1.0'" in out) or 'tag: "1.0"' in out


def test_200_tags_resolved_concurrently(registry: Registry, tmp_path: Path) -> None:
    image = random_image(random.Random(106))
    seed(registry, "many/app", "base", image)
    lines = []
    for i in range(200):
        # Tags are PUTs of the same manifest: cheap to seed, 200 distinct lookups to resolve.
        seed(registry, "many/app", f"t{i:03d}", image)
        lines.append(f"- image: {registry.host}/many/app:t{i:03d}")
    f = tmp_path / "many.yaml"
    f.write_text("images:\n" + "\n".join("  " + x for x in lines) + "\n")
    started = time.monotonic()
    proc = run("-f", str(f))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f"{registry.host}/many/app@{image.digest}") == 200
    assert registry.requests("HEAD", r"many/app/manifests/t\d{3}") >= 200
    print(f"200 tags resolved in {time.monotonic() - started:.2f} s")
