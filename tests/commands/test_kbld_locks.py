"""kbld's lock workflow: resolve writes a lock, relocate -f that lock writes a new lock keyed on
the same ``image:`` values, and resolve with the new lock pins the user's YAML to the relocated
images without touching the network (issue 14)."""

from __future__ import annotations

import random
from pathlib import Path

from ruamel.yaml import YAML

from tests.commands.test_pkg import cli
from tests.images import seed, valid_image
from tests.registries import Registry, start_registry


def test_a_relocated_lock_keeps_the_yamls_image_names(fresh_registry: Registry, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "source")  # stopped below: a lock applies offline
    try:
        rng = random.Random(150)
        web, worker = valid_image(rng, (700,)), valid_image(rng, (800,))
        seed(registry, "kbld/web", "1.0", web)
        seed(registry, "kbld/worker", "2.0", worker)
        app = tmp_path / "app.yaml"
        app.write_text(f"spec:\n  containers:\n  - image: {registry.host}/kbld/web:1.0\n"
                       f"  - image: {registry.host}/kbld/worker:2.0\n")
        first, second = tmp_path / "1.lock", tmp_path / "2.lock"
        assert cli("resolve", "-f", str(app), "--lock-output", str(first)).returncode == 0
        moved = cli("relocate", "-f", str(first), "--repository", f"{fresh_registry.host}/bundle",
                    "--lock-output", str(second))
        assert moved.returncode == 0, moved.stderr
        overrides = YAML(typ="safe").load(second.read_text())["overrides"]
        assert {o["image"]: o["newImage"] for o in overrides} == {
            f"{registry.host}/kbld/web:1.0": f"{fresh_registry.host}/bundle@{web.digest}",
            f"{registry.host}/kbld/worker:2.0": f"{fresh_registry.host}/bundle@{worker.digest}"}
    finally:
        registry.stop()  # idempotent; applying a lock needs no registry
    pinned = cli("resolve", "-f", str(app), "-f", str(second))
    assert pinned.returncode == 0, pinned.stderr
    assert f"image: {fresh_registry.host}/bundle@{web.digest}" in pinned.stdout
    assert f"image: {fresh_registry.host}/bundle@{worker.digest}" in pinned.stdout
