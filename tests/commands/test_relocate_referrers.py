"""relocate moves every referrer with its image, on real registries: through the Referrers API
(tests/referrers.ReferrersFront on distribution 2.8.2) and through fallback tags (the bare
registry), in --prefix and --repository mode; each found afterwards the way a verifier finds it."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.engine.events import Report
from relocator.engine.referrers import NONE, ReferrerPolicy
from relocator.frontends.inputs import collect_inputs
from relocator.ui.render import QuietReporter
from tests import reports
from tests.commands.test_pkg import cli
from tests.conftest import settings_for
from tests.images import OCI_INDEX, OCI_MANIFEST, seed, valid_image
from tests.proxy import FaultProxy
from tests.referrers import (
    SPDX,
    Attached,
    ReferrersFront,
    attached,
    by_api,
    by_tag,
    descriptor_of,
    fallback_tag,
    legacy_tag,
    put_list,
    seed_attached,
    tagged_digest,
)
from tests.registries import Registry


async def _relocate(*refs: str, **options: object) -> Report:
    options_ = RelocateOptions(**options)  # type: ignore[arg-type]
    _, report = await relocate(settings_for(), collect_inputs([], list(refs)), options_, QuietReporter())
    return report


def _assert_found(reg: Registry, repo: str, fix: Attached, *, api: bool) -> None:
    """Every referrer is at ``repo`` by its own digest and found from its subject: through the API
    (and then no fallback tag was needed) or the fallback tag; the cosign signature by its tag."""
    for subject, referrer in fix.linked:
        listed = by_api(reg, repo, subject) if api else by_tag(reg, repo, subject)
        assert listed[referrer.digest] == descriptor_of(referrer)  # artifactType and annotations kept
        assert tagged_digest(reg, repo, referrer.digest) == referrer.digest
        if api:
            assert by_tag(reg, repo, subject) == {}
    assert tagged_digest(reg, repo, legacy_tag(fix.index)) == fix.sig.digest


@pytest.mark.parametrize("api", [True, False], ids=["api", "fallback-tag"])
@pytest.mark.parametrize("mode", ["prefix", "repository"])
async def test_relocate_moves_every_referrer(api: bool, mode: str, registry: Registry,
                                            referrers_front: ReferrersFront) -> None:
    reg = referrers_front.registry() if api else registry
    fix = attached(80 + 2 * api + (mode == "prefix"))
    src = f"ref-src/{mode}-{'api' if api else 'tags'}"
    seed_attached(reg, src, "v1", fix, fallback=not api)
    dst = f"ref-dst/{mode}-{'api' if api else 'tags'}"
    if mode == "prefix":
        report = await _relocate(f"{reg.host}/{src}:v1", prefix=f"{reg.host}/ref-dst")
        dst_repo = f"ref-dst/{src}"
        assert tagged_digest(reg, dst_repo, "v1") == fix.index.digest
    else:
        report = await _relocate(f"{reg.host}/{src}:v1", repository=f"{reg.host}/{dst}")
        dst_repo = dst
    assert report.failed == {} and report.referrers == len(fix.all) == 6
    _assert_found(reg, dst_repo, fix, api=api)


async def test_referrers_are_written_after_their_subject_and_before_the_tag(
        registry: Registry, fresh_registry: Registry) -> None:
    fix = attached(90)
    seed_attached(registry, "order/app", "v1", fix, fallback=True)
    report = await _relocate(f"{registry.host}/order/app:v1", prefix=fresh_registry.host)
    assert report.failed == {}
    log = fresh_registry.log()
    puts = [m.group(1) for m in re.finditer(r'"PUT /v2/order/app/manifests/([^ ?]+) HTTP', log)]
    last = {name: i for i, name in enumerate(puts)}
    for subject, referrer in fix.linked:
        assert puts.index(subject) < puts.index(referrer.digest)
        assert puts.index(referrer.digest) < last[fallback_tag(subject)]  # listed after it is there
    assert puts.index(fix.index.digest) < puts.index(fix.sig.digest) < puts.index(legacy_tag(fix.index))
    assert puts[-1] == "v1"  # the image's tag last: whoever finds it finds its signatures


async def test_an_existing_fallback_list_keeps_its_entries(registry: Registry) -> None:
    fix = attached(91)
    seed_attached(registry, "keep/src", "v1", fix, fallback=True)
    other = valid_image(random.Random(92))
    seed(registry, "keep/dst", None, other)
    child = fix.index.children[0].digest
    theirs = {"mediaType": OCI_MANIFEST, "digest": other.digest, "size": len(other.raw),
              "artifactType": "application/vnd.someone.else", "annotations": {"from": "elsewhere"}}
    put_list(registry, "keep/dst", child, [theirs])
    report = await _relocate(f"{registry.host}/keep/src:v1", repository=f"{registry.host}/keep/dst")
    assert report.failed == {}
    listed = by_tag(registry, "keep/dst", child)
    assert listed[other.digest] == theirs
    assert set(listed) == {other.digest, fix.sboms[0].digest, fix.provenance[0].digest}


async def test_a_fallback_tag_holding_an_image_is_left_alone(registry: Registry) -> None:
    fix = attached(93)
    seed_attached(registry, "odd/src", "v1", fix, fallback=True)
    squatter = valid_image(random.Random(94))
    child = fix.index.children[1].digest
    seed(registry, "odd/dst", fallback_tag(child), squatter)
    report = await _relocate(f"{registry.host}/odd/src:v1", repository=f"{registry.host}/odd/dst")
    assert report.failed == {}
    assert tagged_digest(registry, "odd/dst", fallback_tag(child)) == squatter.digest
    assert any(f"odd/dst:{fallback_tag(child)} is not a list of referrers" in n for n in report.notes)
    assert tagged_digest(registry, "odd/dst", fix.sboms[1].digest) == fix.sboms[1].digest  # still copied


async def test_referrers_none_copies_none(registry: Registry) -> None:
    fix = attached(95)
    seed_attached(registry, "none/src", "v1", fix, fallback=True)
    report = await _relocate(f"{registry.host}/none/src:v1", repository=f"{registry.host}/none/dst",
                             referrers=NONE)
    assert report.failed == {} and report.referrers == 0
    assert all(tagged_digest(registry, "none/dst", r.digest) is None for r in fix.all)
    assert tagged_digest(registry, "none/dst", legacy_tag(fix.index)) is None
    assert registry.requests("GET", r"none/src/referrers/.*") == 0  # not even looked for


async def test_an_artifact_type_copies_those_and_what_refers_to_them(registry: Registry,
                                                                     referrers_front: ReferrersFront) -> None:
    reg = referrers_front.registry()
    fix = attached(96)
    seed_attached(reg, "typed/src", "v1", fix, fallback=False)
    report = await _relocate(f"{reg.host}/typed/src:v1", repository=f"{reg.host}/typed/dst",
                             referrers=ReferrerPolicy.parse(SPDX))
    assert report.failed == {}
    present = {r.digest for r in fix.all if tagged_digest(reg, "typed/dst", r.digest)}
    # The SBOMs, and the signature on one of them (whatever its type); no provenance, no .sig.
    assert present == {fix.sboms[0].digest, fix.sboms[1].digest, fix.sbom_sig.digest}
    assert report.referrers == 3


@pytest.mark.parametrize("honoured", [True, False], ids=["if-match", "read-back"])
async def test_a_concurrent_writer_keeps_its_entry(honoured: bool, registry: Registry) -> None:
    fix = attached(97 + honoured)
    seed_attached(registry, f"race{honoured:d}/src", "v1", fix, fallback=True)
    other = valid_image(random.Random(99))
    dst = f"race{honoured:d}/dst"
    seed(registry, dst, None, other)
    child = fix.index.children[0].digest
    theirs = {"mediaType": OCI_MANIFEST, "digest": other.digest, "size": len(other.raw),
              "artifactType": "application/vnd.racer"}
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [theirs]}).encode()
    # Another client writes its own list (it read none) just before our write, where the registry
    # answers If-Match with 412, or just after it, where the registry ignores conditions.
    front = ReferrersFront(registry, api=False, conditional=honoured, race={fallback_tag(child): body},
                           race_after=not honoured).start()
    try:
        report = await _relocate(f"{registry.host}/race{honoured:d}/src:v1",
                                 repository=f"{front.host}/{dst}")
    finally:
        front.stop()
    assert report.failed == {} and front.race == {}
    # Refused once (412) and merged again, or replaced right after and merged again once read back.
    assert front.tag_puts[fallback_tag(child)] >= 2 and front.refused == honoured
    assert set(by_tag(registry, dst, child)) == {other.digest, fix.sboms[0].digest, fix.provenance[0].digest}


def test_the_dry_run_and_the_report_count_referrers_apart(registry: Registry,
                                                          fresh_registry: Registry) -> None:
    fix = attached(100)
    seed_attached(registry, "count/app", "v1", fix, fallback=True)
    ref = f"{registry.host}/count/app:v1"
    plan = cli("relocate", "-i", ref, "--prefix", fresh_registry.host, "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    summary = reports.load(plan.stdout)
    assert len(summary["images"]) == 1
    assert (summary["counts"]["referrers"], summary["details"]["manifests"]) == (6, 9)
    text = cli("relocate", "-i", ref, "--prefix", fresh_registry.host, "--dry-run")
    assert "1 images, 6 referrers, 9 manifests" in text.stdout, text.stdout
    assert tagged_digest(fresh_registry, "count/app", fix.sboms[0].digest) is None  # nothing moved
    done = cli("relocate", "-i", ref, "--prefix", fresh_registry.host)
    assert done.returncode == 0, done.stderr
    assert "images: 1 done, 0 failed; referrers: 6 copied;" in done.stdout, done.stdout


@pytest.mark.parametrize("verb", [("relocate", "-i", "x.example/a:1", "--prefix", "y.example"),
                                  ("pkg", "-i", "x.example/a:1", "-o", "out.tar"),
                                  ("copy", "x.example/a:1", "y.example/a:1"),
                                  ("sync", "x.example/a", "y.example/a")])
def test_a_bad_referrers_value_is_refused_in_one_line(verb: tuple[str, ...], tmp_path: Path) -> None:
    proc = cli(*verb, "--referrers", "sbom", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == ("relocator: error: --referrers 'sbom': want all, none, or artifact types such as "
                           "application/spdx+json (comma-separated)\n")
    assert not (tmp_path / "out.tar").exists() and not (tmp_path / "out.tar.partial").exists()


async def test_a_host_without_the_api_is_asked_once(registry: Registry) -> None:
    # Every manifest's lookup starts at once; the first answer (404: no API) must stand for the
    # host, not one probe per concurrent lookup.
    fixes = [attached(120 + i) for i in range(3)]
    for i, fix in enumerate(fixes):
        seed_attached(registry, f"ref-probe/a{i}", "v1", fix, fallback=True)
    proxy = await FaultProxy(registry).start()
    try:
        report = await _relocate(*(f"{proxy.host}/ref-probe/a{i}:v1" for i in range(3)),
                                 prefix=f"{registry.host}/ref-probe-dst")
    finally:
        await proxy.stop()
    assert report.failed == {} and report.referrers == 3 * len(fixes[0].all)
    assert proxy.hits["referrers"] == 1
