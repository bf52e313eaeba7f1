"""relocate against real registries, checked with skopeo and the registries' access logs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.engine.events import Outcome
from relocator.frontends.inputs import collect_inputs
from relocator.oci import Repository
from relocator.ui.render import QuietReporter
from tests import reports
from tests.conftest import settings_for
from tests.images import random_image, random_index, seed, sha256, skopeo, skopeo_raw_manifest
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
    out = reports.load(proc.stdout)
    assert out["counts"]["outcomes"] == {"copied": len(refs), "failed": 1}
    assert list(reports.errors(out)) == [f"{registry.host}/apps/missing:nope"]
    bad = subprocess.run([sys.executable, "-m", "relocator", "relocate", "-i", "Not/Valid",
                          "--prefix", fresh_registry.host], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Not/Valid" in bad.stderr and len(bad.stderr.splitlines()) == 1


async def test_destination_refusing_mounts_falls_back_to_upload(registry: Registry,
                                                                fresh_registry: Registry) -> None:
    from tests.proxy import FaultProxy

    rng = random.Random(25)
    shared = rng.randbytes(100_000)
    refs = []
    for i in range(3):
        seed(registry, f"nomount/svc{i}", "v1", random_image(rng, (500,), shared_layers=(shared,)))
        refs.append(f"{registry.host}/nomount/svc{i}:v1")
    proxy = await FaultProxy(fresh_registry, refuse_mounts=True).start()
    try:
        _, report = await relocate(settings_for(), collect_inputs([], refs),
                                   RelocateOptions(prefix=proxy.host), QuietReporter())
    finally:
        await proxy.stop()
    assert report.failed == {}
    assert proxy.hits["refused-mount"] == 2 and report.blobs[Outcome.MOUNTED] == 0
    for ref in refs:
        path_tag = ref.split("/", 1)[1]
        assert skopeo_raw_manifest(fresh_registry, path_tag)  # present, pulled by skopeo
    assert fresh_registry.requests("PUT", rf"nomount/svc\d/blobs/uploads/.*digest={sha256(shared)}") == 3


async def test_schema1_and_auth_failures_are_per_image(registry: Registry, basic_registry: Registry,
                                                       fresh_registry: Registry, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.proxy import FaultProxy

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no credentials anywhere
    for key in [k for k in os.environ if k.startswith(("RELOCATOR_REGISTRY_", "KBLD_REGISTRY_"))]:
        monkeypatch.delenv(key)
    good = random_image(random.Random(26))
    seed(registry, "mixed/good", "v1", good)
    schema1 = b'{"schemaVersion": 1, "name": "mixed/legacy", "tag": "v1", "fsLayers": [], "history": []}'
    proxy = await FaultProxy(registry, canned={
        "/v2/mixed/legacy/manifests/v1": ("application/vnd.docker.distribution.manifest.v1+prettyjws",
                                          schema1)}).start()
    legacy = f"{proxy.host}/mixed/legacy:v1"
    locked = f"{basic_registry.host}/mixed/locked:v1"
    fine = f"{proxy.host}/mixed/good:v1"
    try:
        _, report = await relocate(settings_for(), collect_inputs([], [legacy, locked, fine]),
                                   RelocateOptions(prefix=fresh_registry.host), QuietReporter())
    finally:
        await proxy.stop()
    assert set(report.failed) == {legacy, locked}
    assert "schema 1" in report.failed[legacy] and legacy in report.failed[legacy]
    assert basic_registry.host in report.failed[locked] and "401" in report.failed[locked]
    assert list(report.done) == [fine]
    assert sha256(skopeo_raw_manifest(fresh_registry, "mixed/good:v1")) == good.digest


async def test_same_image_under_two_references(registry: Registry, fresh_registry: Registry) -> None:
    image = random_image(random.Random(27), (20_000,))
    seed(registry, "twice/app", "a", image)
    seed(registry, "twice/app", "b", image)
    refs = [f"{registry.host}/twice/app:a", f"{registry.host}/twice/app:b",
            f"{registry.host}/twice/app@{image.digest}"]
    _, report = await relocate(settings_for(), collect_inputs([], refs),
                               RelocateOptions(prefix=fresh_registry.host), QuietReporter())
    assert report.failed == {} and len(report.done) == 3
    assert report.blobs[Outcome.TRANSFERRED] == 2  # config and layer, once each
    for tag in ("a", "b"):
        assert sha256(skopeo_raw_manifest(fresh_registry, f"twice/app:{tag}")) == image.digest


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relocator", *args], capture_output=True, text=True,
                          timeout=120)


def test_dry_run_moves_nothing_and_counts_bytes(registry: Registry, fresh_registry: Registry) -> None:
    rng = random.Random(28)
    shared = rng.randbytes(40_000)
    images = [random_image(rng, (1000 * (i + 1),), shared_layers=(shared,)) for i in range(3)]
    refs = [f"{registry.host}/dry/app{i}:v1" for i in range(3)]
    for ref, image in zip(refs, images, strict=True):
        seed(registry, ref.split("/", 1)[1].split(":")[0], "v1", image)
    unique = {d: len(b) for img in images for d, b in img.blobs.items()}
    args = [a for r in refs for a in ("-i", r)]
    before = fresh_registry.log()
    plan = _cli("relocate", *args, "--prefix", fresh_registry.host, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    summary = reports.load(plan.stdout)
    assert summary["dry_run"] is True and summary["counts"]["outcomes"] == {"planned": 3}
    assert summary["details"]["unique_blobs"] == len(unique)
    # The shared layer moves once and is mounted into the two other repositories.
    assert summary["throughput"]["bytes"] == sum(unique.values())
    assert summary["counts"]["blobs"]["mounted"] == 2
    assert summary["details"]["bytes_present"] == 0
    new_lines = fresh_registry.log()[len(before):]
    assert '"PUT ' not in new_lines and '"POST ' not in new_lines and '"PATCH ' not in new_lines

    done = _cli("relocate", *args, "--prefix", fresh_registry.host)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr + done.stdout  # no escape codes without a terminal
    assert "done " in done.stderr and "3 done, 0 failed" in done.stdout
    again = reports.load(_cli("relocate", *args, "--prefix", fresh_registry.host, "--dry-run",
                              "--json").stdout)
    assert again["throughput"]["bytes"] == 0 and again["counts"]["blobs"]["mounted"] == 0
    assert again["details"]["bytes_present"] == sum(unique.values()) + 2 * len(shared)


def test_tag_for_gc_and_fail_fast(registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    image = random_image(random.Random(29))
    seed(registry, "gc/app", "v1", image)
    ok = _cli("relocate", "-i", f"{registry.host}/gc/app:v1", "--repository",
              f"{fresh_registry.host}/bundle", "--tag-for-gc")
    assert ok.returncode == 0, ok.stderr
    tags = json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{fresh_registry.host}/bundle"))
    assert tags["Tags"] == [f"sha256-{image.digest.split(':')[1]}.relocated"]

    lock = tmp_path / "out.lock"
    failing = _cli("relocate", "-i", f"{registry.host}/gc/missing:v1", "-i", f"{registry.host}/gc/app:v1",
                   "--prefix", fresh_registry.host, "--fail-fast", "--lock-output", str(lock), "--json")
    assert failing.returncode == 1
    errors = reports.errors(reports.load(failing.stdout))
    assert "404" in errors[f"{registry.host}/gc/missing:v1"]
    assert "--fail-fast" in errors[f"{registry.host}/gc/app:v1"]
    assert fresh_registry.requests("PUT", "gc/app/manifests/.*") == 0
    assert not lock.exists()
    usage = _cli("relocate", "-i", f"{registry.host}/gc/app:v1", "--prefix", fresh_registry.host,
                 "--tag-for-gc")
    assert usage.returncode == 2 and "--tag-for-gc" in usage.stderr


async def test_wrong_bytes_at_source_fail_the_image_and_push_no_manifest(
        registry: Registry, fresh_registry: Registry) -> None:
    from tests.proxy import FaultProxy

    rng = random.Random(30)
    bad_image, good_image = random_image(rng, (5000,)), random_image(rng, (6000,))
    seed(registry, "corrupt/bad", "v1", bad_image)
    seed(registry, "corrupt/good", "v1", good_image)
    layer = list(bad_image.blobs)[-1]
    size = len(bad_image.blobs[layer])
    proxy = await FaultProxy(registry, canned={
        f"/v2/corrupt/bad/blobs/{layer}": ("application/octet-stream", b"\0" * size)}).start()
    refs = [f"{proxy.host}/corrupt/bad:v1", f"{proxy.host}/corrupt/good:v1"]
    try:
        _, report = await relocate(settings_for(), collect_inputs([], refs),
                                   RelocateOptions(prefix=fresh_registry.host), QuietReporter())
    finally:
        await proxy.stop()
    assert list(report.failed) == [refs[0]] and "hashes to sha256:" in report.failed[refs[0]]
    assert list(report.done) == [refs[1]]
    assert fresh_registry.requests("PUT", "corrupt/bad/manifests/.*") == 0
    assert fresh_registry.requests("PUT", "corrupt/good/manifests/.*") == 2  # by digest, then the tag
    assert fresh_registry.requests("HEAD", f"corrupt/bad/blobs/{layer}") == 1


async def test_source_on_destination_host_is_mounted(fresh_registry: Registry) -> None:
    image = random_image(random.Random(31), (50_000,))
    seed(fresh_registry, "origin/app", "v1", image)
    _, report = await relocate(settings_for(), collect_inputs([], [f"{fresh_registry.host}/origin/app:v1"]),
                               RelocateOptions(prefix=f"{fresh_registry.host}/copy"), QuietReporter())
    assert report.failed == {} and report.blobs[Outcome.MOUNTED] == 2 and report.bytes_moved == 0
    assert sha256(skopeo_raw_manifest(fresh_registry, "copy/origin/app:v1")) == image.digest


async def test_a_bug_in_a_sink_fails_the_image_instead_of_vanishing(registry: Registry,
                                                                   fresh_registry: Registry) -> None:
    from relocator.commands.common import open_client
    from relocator.engine.plan import build_plan
    from relocator.engine.scheduler import Scheduler
    from relocator.stores.registry import RegistryStore

    image = random_image(random.Random(32))
    seed(registry, "bug/app", "v1", image)

    class Broken(RegistryStore):
        async def write_manifest(self, ref: object, manifest: object) -> None:
            raise KeyError("boom")

    settings = settings_for()
    async with open_client(settings) as client:
        inputs = collect_inputs([], [f"{registry.host}/bug/app:v1"])
        plan = await build_plan(RegistryStore(client), inputs,
                                lambda ref: ref.in_repository(Repository(fresh_registry.host, "bug/app")))
        report = await Scheduler(RegistryStore(client), Broken(client), settings.limits,
                                 QuietReporter()).run(plan)
    assert report.done == {}
    assert "internal error: KeyError('boom')" in report.failed[f"{registry.host}/bug/app:v1"]


def test_shards_together_relocate_everything_once(registry: Registry, fresh_registry: Registry) -> None:
    digests = _seed_corpus(registry, random.Random(33))
    refs = list(digests)
    args = [a for r in refs for a in ("-i", r)]
    done: list[str] = []
    for i in range(2):
        proc = _cli("relocate", *args, "--prefix", f"{fresh_registry.host}/sharded", "--shard", f"{i}/2",
                    "--json")
        assert proc.returncode == 0, proc.stderr
        done += list(reports.copied(reports.load(proc.stdout)))
    assert sorted(done) == sorted(refs)
    for ref, digest in digests.items():
        assert sha256(skopeo_raw_manifest(fresh_registry, f"sharded/{ref.split('/', 1)[1]}")) == digest
    bad = _cli("relocate", *args, "--prefix", fresh_registry.host, "--shard", "2/2")
    assert bad.returncode == 2 and "--shard" in bad.stderr
