"""`relocator inspect`: an index's children with their platforms, and what refers to each, as text
and as JSON."""

from __future__ import annotations

import random

import pytest

from tests import reports
from tests.commands.test_pkg import cli
from tests.images import OCI_INDEX, OCI_MANIFEST, Image, random_index, seed, valid_image
from tests.referrers import PROVENANCE, SIGNATURE, SPDX, ReferrersFront, attached, legacy_tag, seed_attached
from tests.registries import Registry


def test_children_are_listed_with_their_platforms(registry: Registry) -> None:
    rng = random.Random(130)
    amd64, arm64 = valid_image(rng, (500,)), valid_image(rng, (600,))
    index = random_index([amd64, arm64])
    seed(registry, "inspect/app", "v1", index)
    ref = f"{registry.host}/inspect/app:v1"
    text = cli("inspect", ref)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"{ref}\t{index.digest}\tapplication/vnd.oci.image.index.v1+json",
        f"  linux/amd64\t{amd64.digest}\t{len(amd64.raw)}\tapplication/vnd.oci.image.manifest.v1+json",
        f"  linux/arm64\t{arm64.digest}\t{len(arm64.raw)}\tapplication/vnd.oci.image.manifest.v1+json"]
    report = reports.load(cli("inspect", "--json", ref).stdout)["details"]
    assert [c["platform"] for c in report["children"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux"}]


@pytest.mark.parametrize("api", [True, False], ids=["api", "fallback-tag"])
def test_referrers_are_shown_as_a_tree(api: bool, registry: Registry,
                                       referrers_front: ReferrersFront) -> None:
    reg = referrers_front.registry() if api else registry
    fix = attached(150 + api)
    seed_attached(reg, "inspect/signed", "v1", fix, fallback=not api)
    ref = f"{reg.host}/inspect/signed:v1"
    text = cli("inspect", ref)
    assert text.returncode == 0, text.stderr

    def line(indent: str, image: Image, kind: str, tag: str = "") -> str:
        return f"{indent}└─ {kind}\t{image.digest}\t{len(image.raw)}" + (f"\ttag {tag}" if tag else "")

    amd64, arm64 = fix.index.children
    assert text.stdout.splitlines() == [
        f"{ref}\t{fix.index.digest}\t{OCI_INDEX}",
        line("  ", fix.sig, "application/vnd.oci.image.config.v1+json", legacy_tag(fix.index)),
        f"  linux/amd64\t{amd64.digest}\t{len(amd64.raw)}\t{OCI_MANIFEST}",
        line("    ", fix.sboms[0], SPDX),
        line("       ", fix.sbom_sig, SIGNATURE),
        line("    ", fix.provenance[0], PROVENANCE),
        f"  linux/arm64\t{arm64.digest}\t{len(arm64.raw)}\t{OCI_MANIFEST}",
        line("    ", fix.sboms[1], SPDX),
        line("    ", fix.provenance[1], PROVENANCE)]
    full = reports.load(cli("inspect", "--json", ref).stdout)
    assert full["counts"]["referrers"] == 6  # every line of the tree above: the deepest counted too
    report = full["details"]
    sbom = report["children"][0]["referrers"][0]
    assert (sbom["digest"], sbom["artifactType"], sbom["annotations"]) == (
        fix.sboms[0].digest, SPDX, {"org.example.sbom": "spdx"})
    assert [r["digest"] for r in sbom["referrers"]] == [fix.sbom_sig.digest]
    assert report["referrers"][0]["tag"] == legacy_tag(fix.index)
