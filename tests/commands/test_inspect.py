"""`relocator inspect`: an index's children with their platforms, as text and as JSON."""

from __future__ import annotations

import json
import random

from tests.commands.test_pkg import cli
from tests.images import random_index, seed, valid_image
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
    report = json.loads(cli("inspect", "--json", ref).stdout)
    assert [c["platform"] for c in report["children"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux"}]
