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


def test_kbld_unpkg_with_a_lock(registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    """kbld's documented flow: ``pkg -f LOCK -o F.tar``, then ``unpkg -f LOCK --input F.tar
    --repository R --lock-output L``: only the lock's images, and L keyed on its image: values."""
    rng = random.Random(151)
    api, extra = valid_image(rng, (600,)), valid_image(rng, (650,))
    seed(registry, "kbld/api", "3.1", api)
    seed(registry, "kbld/extra", "1.0", extra)
    app = tmp_path / "app.yaml"
    app.write_text(f"image: {registry.host}/kbld/api:3.1\n")
    lock, tar, copied = tmp_path / "app.lock", tmp_path / "images.tar", tmp_path / "copied.lock"
    assert cli("resolve", "-f", str(app), "--lock-output", str(lock)).returncode == 0
    packed = cli("pkg", "-f", str(lock), "-i", f"{registry.host}/kbld/extra:1.0", "-o", str(tar))
    assert packed.returncode == 0, packed.stderr
    done = cli("unpkg", "-f", str(lock), "--input", str(tar), "--repository", f"{fresh_registry.host}/app1",
               "--lock-output", str(copied))
    assert done.returncode == 0, done.stderr
    overrides = YAML(typ="safe").load(copied.read_text())["overrides"]
    assert [(o["image"], o["newImage"]) for o in overrides] == [
        (f"{registry.host}/kbld/api:3.1", f"{fresh_registry.host}/app1@{api.digest}")]
    assert fresh_registry.requests("PUT", f"app1/manifests/{extra.digest}") == 0  # not in the lock
    other = tmp_path / "other.tar"
    assert cli("pkg", "-i", f"{registry.host}/kbld/extra:1.0", "-o", str(other)).returncode == 0
    missing = cli("unpkg", "-f", str(lock), "--input", str(other), "--repository", f"{fresh_registry.host}/x")
    assert missing.returncode == 2 and f"{registry.host}/kbld/api:3.1" in missing.stderr
    assert f"is not in {other}" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
