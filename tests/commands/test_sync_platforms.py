"""sync applies ``platforms:`` (and ``platformMode:``) per entry, with --platform for the rest."""

from __future__ import annotations

import json
from pathlib import Path

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
