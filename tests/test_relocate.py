"""relocate against real registries, checked with skopeo and the registries' access logs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.events import Outcome
from relocator.inputs import collect_inputs
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import random_image, random_index, seed, sha256, skopeo_raw_manifest
from tests.registries import Registry


def _seed_corpus(src: Registry, rng: random.Random) -> dict[str, str]:
    """A few kinds of image; returns reference -> digest."""
    base = rng.randbytes(50_000)
    amd = random_image(rng, (3000,), shared_layers=(base,))
    arm = random_image(rng, (4000,), shared_layers=(base,))
    inner = random_index([random_image(rng, (500,))])
    nested = random_index([inner, random_image(rng, (600,), docker=False)])
    images = {
        "apps/multi:1.0": random_index([amd, arm]),
        "apps/docker:v2": random_image(rng, (7000,), docker=True, shared_layers=(base,)),
        "apps/artifact:sig": random_image(rng, (100,), config_media_type="application/vnd.example+json"),
        "apps/nested:n": nested,
    }
    out = {}
    for name, img in images.items():
        repo, tag = name.split(":")
        seed(src, repo, tag, img)
        out[f"{src.host}/{name}"] = img.digest
    return out


async def test_prefix_mirror_keeps_paths_tags_and_digests(registry: Registry, fresh_registry: Registry,
                                                         tmp_path: Path) -> None:
    refs = _seed_corpus(registry, random.Random(20))
    lock = tmp_path / "images.lock"
    inputs = collect_inputs([], list(refs))
    options = RelocateOptions(prefix=f"{fresh_registry.host}/mirror", lock_output=lock)
    _, report = await relocate(settings_for(), inputs, options, QuietReporter())
    assert report.failed == {}
    for ref, digest in refs.items():
        path_tag = ref.split("/", 1)[1]
        assert sha256(skopeo_raw_manifest(fresh_registry, f"mirror/{path_tag}")) == digest
    text = lock.read_text()
    assert "kbld.k14s.io/v1alpha1" in text and text.count("preresolved: true") == len(refs)
    relocated = collect_inputs([str(lock)], [])
    assert {str(i.ref.digest) for i in relocated} == set(refs.values())
    assert all(i.ref.repository.registry == fresh_registry.host for i in relocated)
    # The shared base layer crossed once; the other repositories mounted it.
    assert report.blobs[Outcome.MOUNTED] >= 1

    again = await relocate(settings_for(), inputs, options, QuietReporter())
    assert again[1].bytes_moved == 0 and again[1].blobs[Outcome.TRANSFERRED] == 0
    assert again[1].failed == {}


async def test_repository_mode_by_digest(registry: Registry, fresh_registry: Registry) -> None:
    refs = _seed_corpus(registry, random.Random(21))
    inputs = collect_inputs([], list(refs))
    options = RelocateOptions(repository=f"{fresh_registry.host}/all/in-one")
    _, report = await relocate(settings_for(), inputs, options, QuietReporter())
    assert report.failed == {}
    for ref, digest in refs.items():
        assert str(report.done[ref]) == f"{fresh_registry.host}/all/in-one@{digest}"
        assert sha256(skopeo_raw_manifest(fresh_registry, f"all/in-one@{digest}")) == digest


async def test_shared_blob_fetched_once_and_mounted(fresh_registry: Registry, tmp_path: Path) -> None:
    from tests.registries import start_registry

    src = start_registry(tmp_path / "src")
    try:
        rng = random.Random(22)
        shared = rng.randbytes(300_000)
        shared_digest = sha256(shared)
        refs = []
        for i in range(10):
            seed(src, f"team/svc{i}", "v1", random_image(rng, (1000,), shared_layers=(shared,)))
            refs.append(f"{src.host}/team/svc{i}:v1")
        inputs = collect_inputs([], refs)
        _, report = await relocate(settings_for(), inputs, RelocateOptions(prefix=fresh_registry.host),
                                   QuietReporter())
        assert report.failed == {}
        assert src.requests("GET", rf"team/svc\d/blobs/{shared_digest}") == 1
        assert fresh_registry.requests("POST", r"team/svc\d/blobs/uploads/") >= 9
        assert report.blobs[Outcome.MOUNTED] == 9
    finally:
        src.stop()


async def test_one_failure_does_not_stop_the_others(registry: Registry, fresh_registry: Registry) -> None:
    refs = _seed_corpus(registry, random.Random(23))
    missing = f"{registry.host}/apps/missing:nope"
    inputs = collect_inputs([], [*refs, missing])
    _, report = await relocate(settings_for(), inputs, RelocateOptions(prefix=fresh_registry.host),
                               QuietReporter())
    assert set(report.failed) == {missing} and "404" in report.failed[missing]
    assert set(report.done) == set(refs)


def test_cli_reads_yaml_and_exits_1_naming_failures(registry: Registry, fresh_registry: Registry,
                                                   tmp_path: Path) -> None:
    refs = _seed_corpus(registry, random.Random(24))
    deploy = tmp_path / "deploy.yaml"
    docs = [f"kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - image: {r}\n"
            for r in refs]
    docs.append(f"kind: Pod\nspec:\n  containers:\n  - image: {registry.host}/apps/missing:nope\n")
    deploy.write_text("---\n".join(docs))
    proc = subprocess.run([sys.executable, "-m", "relocator", "relocate", "-f", str(deploy),
                           "--prefix", f"{fresh_registry.host}/cli", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["images"] == {"relocated": len(refs), "failed": 1}
    assert list(out["errors"]) == [f"{registry.host}/apps/missing:nope"]
    bad = subprocess.run([sys.executable, "-m", "relocator", "relocate", "-i", "Not/Valid",
                          "--prefix", fresh_registry.host], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Not/Valid" in bad.stderr and len(bad.stderr.splitlines()) == 1
