"""sync applies ``platforms:`` (and ``platformMode:``) per entry, with --platform for the rest."""

from __future__ import annotations

import json
from pathlib import Path

from relocator.oci import Digest
from tests.commands.test_sync import sync
from tests.platforms import multi, raw, seed_multi
from tests.registries import Registry


def test_sync_filters_and_singles_per_entry(registry: Registry, fresh_registry: Registry,
                                            tmp_path: Path) -> None:
    fix, other, whole = multi(401), multi(402), multi(403)
    seed_multi(registry, "syncplat/a", "v1", fix)
    seed_multi(registry, "syncplat/b", "v1", other)
    seed_multi(registry, "syncplat/c", "v1", whole)
    config = tmp_path / "sync.yaml"
    config.write_text(f"defaults:\n  platforms: [linux/amd64]\nmirrors:\n"
                      f"  - source: {registry.host}/syncplat/a\n    target: {fresh_registry.host}/a\n"
                      f"  - source: {registry.host}/syncplat/b\n    target: {fresh_registry.host}/b\n"
                      "    platforms: [linux/arm64]\n    platformMode: single\n"
                      f"  - source: {registry.host}/syncplat/c\n    target: {fresh_registry.host}/c\n"
                      "    platforms: [all]\n")
    proc = sync(tmp_path / "state", "-f", str(config), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "platforms not applied" not in proc.stderr
    filtered = json.loads(raw(fresh_registry, "a:v1"))
    assert [m["digest"] for m in filtered["manifests"]] == [fix.images[0].digest, fix.attestations[0].digest]
    assert raw(fresh_registry, "b:v1") == other.images[1].raw
    assert raw(fresh_registry, "c:v1") == whole.index.raw


def test_a_chosen_platform_is_not_copied_again_while_its_source_is_unchanged(
        registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    # A filtered index or a single platform's image never has the source's digest, so a HEAD-only
    # diff alone would copy it again every night (stores.written).
    fix, single = multi(411), multi(412)
    seed_multi(registry, "syncplat/again", "v1", fix)
    seed_multi(registry, "syncplat/once", "v1", single)
    config = tmp_path / "sync.yaml"

    def write(platform: str) -> None:
        src, dst = f"{registry.host}/syncplat", fresh_registry.host
        config.write_text(f"mirrors:\n  - source: {src}/again\n    target: {dst}/again\n"
                          f"    platforms: [{platform}]\n"
                          f"  - source: {src}/once\n    target: {dst}/once\n"
                          "    platforms: [linux/arm64]\n    platformMode: single\n")

    def results() -> dict[str, dict[str, str]]:
        out = tmp_path / "results.jsonl"
        proc = sync(tmp_path / "state", "-f", str(config), "--results", str(out))
        assert proc.returncode == 0, proc.stderr
        return {r["destination"]: r for r in map(json.loads, out.read_text().splitlines())}

    write("linux/amd64")
    first = results()
    filtered = Digest.of(raw(fresh_registry, "again:v1"))
    assert first[f"{fresh_registry.host}/again:v1"]["outcome"] == "added"
    assert first[f"{fresh_registry.host}/again:v1"]["destination_digest"] == str(filtered)
    assert first[f"{fresh_registry.host}/once:v1"]["destination_digest"] == single.images[1].digest
    again = results()
    assert {r["outcome"] for r in again.values()} == {"unchanged"}
    write("linux/arm64")  # another selection writes other bytes: copied again
    changed = results()
    assert changed[f"{fresh_registry.host}/again:v1"]["outcome"] == "updated"
    assert changed[f"{fresh_registry.host}/once:v1"]["outcome"] == "unchanged"
    manifests = json.loads(raw(fresh_registry, "again:v1"))["manifests"]
    assert manifests[0]["digest"] == fix.images[1].digest
    seed_multi(registry, "syncplat/once", "v1", multi(413))  # a new source: copied again
    assert results()[f"{fresh_registry.host}/once:v1"]["outcome"] == "updated"
