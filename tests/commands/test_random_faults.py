"""relocate, pkg and unpkg through proxies that fail a seeded share of requests (500/502/503, a
reset before the answer or halfway through a body) on both sides: at 10% and 30% every image
completes with the source's digests (checked with skopeo); with a persistent fault on one
repository, the others complete and that one is named (issue 13, "Faults and load").

Retries are raised to 10 with millisecond backoff: at 30% a request fails five tries in a row
once in 400, and these runs send hundreds; the default budget is measured side by side in
benchmarks/faults.py instead."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relocator.commands.pkg import PkgOptions, pkg
from relocator.commands.relocate import RelocateOptions, relocate
from relocator.commands.unpkg import UnpkgOptions, unpkg
from relocator.config import RetryPolicy, Settings
from relocator.frontends.inputs import collect_inputs
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import Image, random_image, random_index, seed, sha256, skopeo_raw_manifest
from tests.randomfaults import RandomFaults
from tests.registries import Registry

REPOS = ("rfaults/app0", "rfaults/app1", "rfaults/app2", "rfaults/multi")


def _settings(attempts: int) -> Settings:
    return settings_for(retry=RetryPolicy(attempts=attempts, base_delay=0.001, max_delay=0.01))


@pytest.fixture(scope="module")
def corpus(registry: Registry) -> dict[str, Image]:
    """Four images (one an index of two), a few hundred KB each; repository -> image."""
    rng = random.Random(13)
    images = {repo: random_image(rng, (300_000, 40_000, 2_000)) for repo in REPOS[:3]}
    images[REPOS[3]] = random_index([random_image(rng, (200_000,)), random_image(rng, (150_000,))])
    for repo, image in images.items():
        seed(registry, repo, "v1", image)
    return images


@pytest.fixture
async def fronts(registry: Registry, fresh_registry: Registry,
                 request: pytest.FixtureRequest) -> AsyncIterator[tuple[RandomFaults, RandomFaults]]:
    """A faulty proxy before the source and one before the destination: (rate, broken) from the
    test's parameters."""
    rate, broken = request.param
    src = await RandomFaults(registry.host, rate, random.Random(1), broken=broken).start()
    dst = await RandomFaults(fresh_registry.host, rate, random.Random(2), broken=broken).start()
    yield src, dst
    await src.stop()
    await dst.stop()


def _digest(reg: Registry, ref: str) -> str:
    return sha256(skopeo_raw_manifest(reg, ref))


@pytest.mark.parametrize("fronts", [(0.1, None), (0.3, None)], indirect=True, ids=["10%", "30%"])
async def test_every_image_completes_with_its_digest_through_random_faults(
        corpus: dict[str, Image], fresh_registry: Registry, fronts: tuple[RandomFaults, RandomFaults],
        tmp_path: Path) -> None:
    src, dst = fronts
    settings = _settings(attempts=11)
    refs = [f"{src.host}/{repo}:v1" for repo in REPOS]
    _, moved = await relocate(settings, collect_inputs([], refs), RelocateOptions(prefix=f"{dst.host}/r"),
                              QuietReporter())
    tar = tmp_path / "out.tar"
    _, packed = await pkg(settings, collect_inputs([], refs), PkgOptions(output=str(tar)), QuietReporter())
    _, pushed = await unpkg(settings, UnpkgOptions(input=tar, prefix=f"{dst.host}/u"), QuietReporter())
    assert (moved.failed, packed.failed, pushed.failed) == ({}, {}, {})
    for repo, image in corpus.items():
        assert _digest(fresh_registry, f"r/{repo}:v1") == image.digest, repo
        assert _digest(fresh_registry, f"u/{repo}:v1") == image.digest, repo
    assert src.faults > 0 and dst.faults > 0  # the faults were there to be survived


@pytest.mark.parametrize("fronts", [(0.0, "rfaults/app1/")], indirect=True, ids=["app1-broken"])
async def test_a_persistently_failing_repository_is_named_and_the_others_complete(
        corpus: dict[str, Image], fresh_registry: Registry, fronts: tuple[RandomFaults, RandomFaults],
        tmp_path: Path) -> None:
    src, dst = fronts
    settings = _settings(attempts=2)
    refs = [f"{src.host}/{repo}:v1" for repo in REPOS]
    broken = f"{src.host}/rfaults/app1:v1"
    _, moved = await relocate(settings, collect_inputs([], refs), RelocateOptions(prefix=f"{dst.host}/r"),
                              QuietReporter())
    tar = tmp_path / "out.tar"
    _, packed = await pkg(settings, collect_inputs([], refs), PkgOptions(output=str(tar)), QuietReporter())
    assert sorted(moved.failed) == sorted(packed.failed) == [broken]
    assert "503" in moved.failed[broken] and src.host in moved.failed[broken], moved.failed
    assert packed.written  # the tarball holds the other three
    # unpkg of a tarball of all four (read past the proxy) into the destination, whose
    # rfaults/app1 is broken there too.
    full = tmp_path / "full.tar"
    _, whole = await pkg(settings, collect_inputs([], [r.replace(src.host, src.upstream) for r in refs]),
                         PkgOptions(output=str(full)), QuietReporter())
    assert whole.failed == {}
    _, pushed = await unpkg(settings, UnpkgOptions(input=full, prefix=f"{dst.host}/u"), QuietReporter())
    assert list(pushed.failed) == [f"{src.upstream}/rfaults/app1:v1"], pushed.failed
    for repo, image in corpus.items():
        if repo != "rfaults/app1":
            assert _digest(fresh_registry, f"r/{repo}:v1") == image.digest, repo
            assert _digest(fresh_registry, f"u/{repo}:v1") == image.digest, repo
