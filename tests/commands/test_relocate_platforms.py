"""relocate --platform in each mode against the multi-platform fixture (tests/platforms.py), on the
real registry: the digests written, what the index lists, the lock file, the output line and
--json, the referrers that travel; and the default (all) moving the attestation manifests as they
are. Checked with skopeo and plain urllib."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests import reports
from tests.commands.test_pkg import cli
from tests.images import OCI_INDEX, Image, seed, sha256
from tests.platforms import AMD64, ARM64, multi, raw, seed_multi
from tests.referrers import ReferrersFront, by_api, by_tag, legacy_tag, tagged_digest
from tests.registries import Registry


def _lock(path: Path) -> list[dict[str, object]]:
    return list(YAML(typ="safe").load(path.read_text())["overrides"])


def test_filter_writes_a_new_index_of_the_platform_and_its_attestation(registry: Registry,
                                                                       tmp_path: Path) -> None:
    fix = multi(201)
    seed_multi(registry, "plat/filter", "v1", fix)
    src = f"{registry.host}/plat/filter:v1"
    lock = tmp_path / "lock.yml"
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to", "--platform", "linux/amd64",
               "--lock-output", str(lock), "--json")
    assert proc.returncode == 0, proc.stderr
    new = raw(registry, "to/plat/filter:v1")
    new_digest = sha256(new)
    assert new_digest != fix.index.digest
    # The amd64 image and its attestation manifest only, each entry exactly as the source listed it.
    assert json.loads(new)["manifests"] == [fix.entries()[0], fix.entries()[2]]
    assert json.loads(new)["annotations"] == json.loads(fix.index.raw)["annotations"]
    assert new == json.dumps(json.loads(new), separators=(",", ":")).encode()  # compact, like buildx
    for image in (fix.images[0], fix.attestations[0]):
        assert raw(registry, f"to/plat/filter@{image.digest}") == image.raw
    assert tagged_digest(registry, "to/plat/filter", fix.images[1].digest) is None  # arm64 stayed
    # The amd64 image's SBOM travels; the index's signature signs the whole index: it does not.
    assert set(by_tag(registry, "to/plat/filter", fix.images[0].digest)) == {fix.sboms[0].digest}
    assert tagged_digest(registry, "to/plat/filter", legacy_tag(fix.index)) is None
    report = reports.load(proc.stdout)
    assert reports.copied(report) == {src: f"{registry.host}/to/plat/filter@{new_digest}"}
    assert reports.sources(report) == {src: fix.index.digest}
    assert any("1 referrers of the source index" in n and fix.index.digest in n for n in report["notes"])
    [entry] = _lock(lock)
    assert entry["newImage"] == f"{registry.host}/to/plat/filter@{new_digest}"
    assert entry["origins"] == [{"platformSelected": {
        "index": f"{registry.host}/plat/filter@{fix.index.digest}", "os": "linux", "architecture": "amd64"}}]


def test_relocating_a_lock_keeps_the_platform_it_was_chosen_from(registry: Registry, tmp_path: Path) -> None:
    fix = multi(211)
    seed_multi(registry, "plat/relock", "v1", fix)
    src = f"{registry.host}/plat/relock:v1"
    first, second = tmp_path / "1.lock", tmp_path / "2.lock"
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to", "--platform", "linux/arm64",
               "--lock-output", str(first))
    assert proc.returncode == 0, proc.stderr
    [chosen] = _lock(first)
    moved = cli("relocate", "-f", str(first), "--repository", f"{registry.host}/again",
                "--lock-output", str(second))
    assert moved.returncode == 0, moved.stderr
    [entry] = _lock(second)
    new_digest = str(chosen["newImage"]).split("@")[1]
    assert entry["image"] == src and entry["newImage"] == f"{registry.host}/again@{new_digest}"
    assert entry["origins"] == chosen["origins"] == [{"platformSelected": {
        "index": f"{registry.host}/plat/relock@{fix.index.digest}", "os": "linux", "architecture": "arm64"}}]


def test_filter_output_line_gives_both_digests(registry: Registry) -> None:
    fix = multi(202)
    seed_multi(registry, "plat/line", "v1", fix)
    proc = cli("relocate", "-i", f"{registry.host}/plat/line:v1", "--repository", f"{registry.host}/line-to",
               "--platform", "linux/arm64")
    assert proc.returncode == 0, proc.stderr
    # What the README promises: the source's JSON, its key order kept, the chosen entries, compact.
    doc = json.loads(fix.index.raw)
    expected = json.dumps({**doc, "manifests": [doc["manifests"][1], doc["manifests"][3]]},
                          separators=(",", ":")).encode()
    assert raw(registry, f"line-to@{sha256(expected)}") == expected
    assert (f"done {registry.host}/plat/line:v1 -> {registry.host}/line-to@{sha256(expected)} "
            f"(platforms chosen from {fix.index.digest})") in proc.stderr
    # The dry run's plan names the digest the run writes, not the source index's.
    dry = cli("relocate", "-i", f"{registry.host}/plat/line:v1", "--repository", f"{registry.host}/line-to",
              "--platform", "linux/arm64", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{registry.host}/line-to@{sha256(expected)}" in dry.stdout, dry.stdout


def test_sparse_is_refused_by_distribution_in_one_line(registry: Registry) -> None:
    fix = multi(203)
    seed_multi(registry, "plat/sparse", "v1", fix)
    proc = cli("relocate", "-i", f"{registry.host}/plat/sparse:v1", "--prefix", f"{registry.host}/to",
               "--platform", "linux/amd64", "--platform-mode", "sparse")
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if line.startswith("FAILED")]
    assert failed == [f"FAILED {registry.host}/plat/sparse:v1: {registry.host} refuses the index "
                      f"{fix.index.digest} without the platforms left out (MANIFEST_BLOB_UNKNOWN): "
                      "--platform-mode sparse needs a registry that takes an index whose entries it lacks; "
                      "use --platform-mode filter (a new index) or single"]
    assert tagged_digest(registry, "to/plat/sparse", "v1") is None


def test_single_copies_the_platform_image_and_its_referrers(registry: Registry, tmp_path: Path) -> None:
    fix = multi(204)
    seed_multi(registry, "plat/single", "v1", fix)
    src = f"{registry.host}/plat/single:v1"
    lock = tmp_path / "lock.yml"
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to", "--platform", "linux/arm64",
               "--platform-mode", "single", "--lock-output", str(lock), "--json")
    assert proc.returncode == 0, proc.stderr
    assert raw(registry, "to/plat/single:v1") == fix.images[1].raw
    assert set(by_tag(registry, "to/plat/single", fix.images[1].digest)) == {fix.sboms[1].digest}
    assert tagged_digest(registry, "to/plat/single", fix.attestations[1].digest) is None
    assert reports.sources(reports.load(proc.stdout)) == {src: fix.index.digest}
    [entry] = _lock(lock)
    assert entry["newImage"] == f"{registry.host}/to/plat/single@{fix.images[1].digest}"


def test_arm64_v8_names_an_arm64_entry_listed_without_variant(registry: Registry) -> None:
    """containerd's normalisation: ``arm64`` is ``arm64/v8``; the fixture lists ``linux/arm64``."""
    fix = multi(209)
    seed_multi(registry, "plat/v8", "v1", fix)
    src = f"{registry.host}/plat/v8:v1"
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to", "--platform", "linux/arm64/v8",
               "--platform-mode", "single", "--json")
    assert proc.returncode == 0, proc.stdout
    assert raw(registry, "to/plat/v8:v1") == fix.images[1].raw
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to-x86", "--platform", "linux/x86_64",
               "--platform-mode", "single")
    assert proc.returncode == 0, proc.stdout
    assert raw(registry, "to-x86/plat/v8:v1") == fix.images[0].raw


def test_single_chooses_again_inside_a_nested_index(registry: Registry) -> None:
    """An index whose linux/amd64 entry is itself an index (of arm64 and amd64): single writes
    the amd64 image alone, not the nested index with both platforms."""
    fix = multi(210)
    amd, arm = fix.images
    inner = Image(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        arm.descriptor(ARM64), amd.descriptor(AMD64)]}).encode(), OCI_INDEX, children=[arm, amd])
    windows = {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.5576"}
    outer = Image(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        inner.descriptor(AMD64), fix.attestations[0].descriptor(windows)]}).encode(), OCI_INDEX,
        children=[inner, fix.attestations[0]])
    seed(registry, "plat/nested", "v1", outer)
    src = f"{registry.host}/plat/nested:v1"
    proc = cli("relocate", "-i", src, "--prefix", f"{registry.host}/to", "--platform", "linux/amd64",
               "--platform-mode", "single", "--json")
    assert proc.returncode == 0, proc.stdout
    assert raw(registry, "to/plat/nested:v1") == amd.raw
    assert reports.copied(reports.load(proc.stdout)) == {src: f"{registry.host}/to/plat/nested@{amd.digest}"}
    assert tagged_digest(registry, "to/plat/nested", inner.digest) is None


def test_all_is_the_default_and_moves_attestation_manifests_byte_identical(
        registry: Registry, referrers_front: ReferrersFront) -> None:
    reg = referrers_front.registry()
    fix = multi(205)
    seed_multi(reg, "plat/all", "v1", fix, fallback=False)
    proc = cli("relocate", "-i", f"{reg.host}/plat/all:v1", "--prefix", f"{reg.host}/to", "--json")
    assert proc.returncode == 0, proc.stderr
    # skopeo straight at the registry behind the front (the front folds skopeo's Accept headers).
    assert raw(registry, "to/plat/all:v1") == fix.index.raw
    for att in fix.attestations:
        assert raw(registry, f"to/plat/all@{att.digest}") == att.raw
    for image, sbom in zip(fix.images, fix.sboms, strict=True):
        assert set(by_api(reg, "to/plat/all", image.digest)) == {sbom.digest}
    assert tagged_digest(reg, "to/plat/all", legacy_tag(fix.index)) == fix.sig.digest
    assert reports.sources(reports.load(proc.stdout)) == {}


def test_filter_through_the_referrers_api_copies_each_kept_platforms_sbom(
        registry: Registry, referrers_front: ReferrersFront) -> None:
    reg = referrers_front.registry()
    fix = multi(206)
    seed_multi(reg, "plat/api", "v1", fix, fallback=False)
    proc = cli("relocate", "-i", f"{reg.host}/plat/api:v1", "--prefix", f"{reg.host}/to",
               "--platform", "linux/amd64", "--platform", "linux/arm64")
    assert proc.returncode == 0, proc.stderr
    # Both images named: nothing left out but the index is the source's, digest kept.
    assert raw(registry, "to/plat/api:v1") == fix.index.raw
    for image, sbom in zip(fix.images, fix.sboms, strict=True):
        assert set(by_api(reg, "to/plat/api", image.digest)) == {sbom.digest}


@pytest.mark.parametrize(("args", "message"), [
    (["--platform", "linux"], "--platform 'linux': want os/arch[/variant][:osversion]"),
    (["--platform", "linux/amd64/v1/x"], "--platform 'linux/amd64/v1/x': want os/arch"),
    (["--platform", "all", "--platform", "linux/amd64"], "--platform all copies every platform"),
    (["--platform", "linux/amd64", "--platform-mode", "sideways"], "--platform-mode 'sideways': want filter"),
    (["--platform-mode", "single"], "--platform-mode single: name the platforms to copy"),
    (["--platform", "linux/amd64,linux/arm64", "--platform-mode", "single"],
     "--platform-mode single copies one platform's image; --platform names 2"),
])
def test_bad_platform_text_is_one_line_exit_2(args: list[str], message: str) -> None:
    proc = cli("relocate", "-i", "127.0.0.1:1/nothing:v1", "--prefix", "127.0.0.1:1/to", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"relocator: error: {message}"), proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_platform_the_index_lacks_fails_the_image_naming_what_it_has(registry: Registry) -> None:
    fix = multi(207)
    seed_multi(registry, "plat/lacks", "v1", fix)
    proc = cli("relocate", "-i", f"{registry.host}/plat/lacks:v1", "--prefix", f"{registry.host}/to",
               "--platform", "linux/s390x")
    assert proc.returncode == 1
    assert (f"failed: {registry.host}/plat/lacks:v1: no linux/s390x in the index; it has linux/amd64, "
            "linux/arm64\n") in proc.stdout


def test_an_image_with_platform_is_kept_when_its_config_matches_else_failed(registry: Registry) -> None:
    fix = multi(208)
    seed_multi(registry, "plat/one", "v1", fix)
    amd = f"{registry.host}/plat/one@{fix.images[0].digest}"
    proc = cli("relocate", "-i", amd, "--repository", f"{registry.host}/one-to", "--platform", "linux/amd64")
    assert proc.returncode == 0, proc.stderr
    assert raw(registry, f"one-to@{fix.images[0].digest}") == fix.images[0].raw
    proc = cli("relocate", "-i", amd, "--repository", f"{registry.host}/one-to", "--platform", "linux/arm64")
    assert proc.returncode == 1
    assert (f"failed: {amd}: an image, not an index, and not for linux/arm64: its config says "
            "linux/amd64\n") in proc.stdout


async def test_one_index_whole_and_sparse_in_one_run_fails_both_by_name(registry: Registry) -> None:
    # A plan holds an index's entries once: copied whole for one input and sparse for another
    # (sync entries with their own platforms:), one would get the other's entries.
    from relocator.commands.common import open_client
    from relocator.engine.plan import build_plan
    from relocator.engine.platforms import PlatformSelection
    from relocator.engine.target import ImageInput
    from relocator.oci import Reference
    from relocator.stores.registry import RegistryStore
    from tests.conftest import settings_for

    fix = multi(207)
    seed_multi(registry, "plat/clash", "v1", fix)
    ref = Reference.parse(f"{registry.host}/plat/clash:v1")
    sparse = PlatformSelection.parse(["linux/amd64"], "sparse")
    inputs = [ImageInput("whole", ref, "-i", destination=Reference.parse(f"{registry.host}/clash/a:v1")),
              ImageInput("sparse", ref, "-i", destination=Reference.parse(f"{registry.host}/clash/b:v1"),
                         platforms=sparse),
              ImageInput("filtered", ref, "-i", destination=Reference.parse(f"{registry.host}/clash/c:v1"),
                         platforms=PlatformSelection.parse(["linux/amd64"]))]
    async with open_client(settings_for()) as client:
        store = RegistryStore(client)
        plan = await build_plan(store, inputs, lambda r: r)
    assert [t.label for t in plan.targets] == ["filtered"]  # a new index: no clash
    assert set(plan.failed) == {"whole", "sparse"}
    clash = "with different platforms in one run (sparse: linux/amd64 (sparse), whole: all)"
    assert clash in plan.failed["whole"] and clash in plan.failed["sparse"]
