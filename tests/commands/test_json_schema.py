"""One --json report for every command (issue 14): each command's report, in success, failure, a
dry run and a partial pkg, against the real registry, validates against the one JSON Schema file
shipped inside the package (relocator/ui/report.schema.json), and its values are the right ones."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.commands.test_pkg import ENV
from tests.images import Image, random_index, seed, skopeo, valid_image
from tests.registries import Registry, free_port
from tests.reports import SCHEMA, load

IMAGE_KEYS = {"reference", "source_digest", "destination", "destination_digest", "destination_digest_before",
              "outcome", "error"}


def report(*args: str, code: int = 0, stream: str = "stdout", state: Path | None = None) -> dict[str, Any]:
    """Run ``relocator ARGS``, expect exit ``code``, and return its report after validating it;
    ``state`` is sync's state directory (its run lock)."""
    env = ENV if state is None else {**ENV, "RELOCATOR_STATE_DIR": str(state)}
    # Bytes, not text: with pkg -o - stdout carries the tarball and the report goes to stderr.
    proc = subprocess.run([sys.executable, "-m", "relocator", *args], capture_output=True, timeout=300,
                          env=env)
    assert proc.returncode == code, proc.stderr.decode()
    data = load(getattr(proc, stream))
    assert data["schema"] == "relocator.report/v1" and data["command"] == args[0]
    assert all(set(image) == IMAGE_KEYS for image in data["images"])
    assert data["counts"]["images"] == len(data["images"])
    return data


def by_ref(data: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {image["reference"]: image for image in data["images"]}


@pytest.fixture(scope="module")
def seeded(registry: Registry) -> dict[str, Image]:
    rng = random.Random(1400)
    images = {"json/app:v1": valid_image(rng, (1500, 700)),
              "json/multi:v1": random_index([valid_image(rng, (900,)), valid_image(rng, (800,))])}
    for name, image in images.items():
        repo, tag = name.split(":")
        seed(registry, repo, tag, image)
    return images


def test_the_schema_is_valid_and_shipped_with_the_package() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"] == {"const": "relocator.report/v1"}


def test_relocate_success_failure_and_dry_run(registry: Registry, fresh_registry: Registry,
                                              seeded: dict[str, Image]) -> None:
    app, multi, missing = (f"{registry.host}/json/app:v1", f"{registry.host}/json/multi:v1",
                           f"{registry.host}/json/missing:v1")
    dest = f"{fresh_registry.host}/mirror"
    plan = report("relocate", "-i", app, "-i", multi, "--prefix", dest, "--dry-run", "--json")
    assert plan["dry_run"] is True and plan["counts"]["outcomes"] == {"planned": 2}
    assert plan["images"][0] == {"reference": app, "source_digest": seeded["json/app:v1"].digest,
                                 "destination": f"{dest}/json/app:v1",
                                 "destination_digest": seeded["json/app:v1"].digest,
                                 "destination_digest_before": None, "outcome": "planned", "error": None}
    assert plan["throughput"]["bytes"] > 0 and plan["details"]["bytes_present"] == 0
    done = report("relocate", "-i", app, "-i", multi, "-i", missing, "--prefix", dest, "--json", code=1)
    images = by_ref(done)
    assert done["dry_run"] is False and done["counts"]["outcomes"] == {"copied": 2, "failed": 1}
    assert images[multi]["destination_digest"] == seeded["json/multi:v1"].digest
    assert images[multi]["destination"] == f"{dest}/json/multi:v1"
    assert images[missing]["outcome"] == "failed" and "MANIFEST_UNKNOWN" in images[missing]["error"]
    assert images[missing]["source_digest"] is None and images[missing]["destination_digest"] is None
    assert done["throughput"]["bytes"] == plan["throughput"]["bytes"]
    assert done["counts"]["blobs"]["transferred"] == plan["counts"]["blobs"]["transferred"]
    assert done["output"] is None and done["interrupted"] is False
    # What the report says is there, is there (skopeo, an independent client).
    raw = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{dest}/json/multi:v1")
    assert raw.encode() == seeded["json/multi:v1"].raw


def test_pkg_partial_unpkg_copy_verify_and_ls(registry: Registry, fresh_registry: Registry,
                                              seeded: dict[str, Image], tmp_path: Path) -> None:
    app, missing = f"{registry.host}/json/app:v1", f"{registry.host}/json/gone:v1"
    tar = tmp_path / "images.tar"
    pkg = report("pkg", "-i", app, "-i", missing, "-o", str(tar), "--json", code=1)
    assert pkg["output"] == {"path": str(tar), "written": True, "without": [missing]}
    assert by_ref(pkg)[app]["outcome"] == "copied" and by_ref(pkg)[missing]["outcome"] == "failed"
    assert tar.exists()
    streamed = report("pkg", "-i", app, "-o", "-", "--json", stream="stderr")
    assert streamed["output"] == {"path": "-", "written": True, "without": []}

    unpkg = report("unpkg", "-i", str(tar), "--repository", f"{fresh_registry.host}/restored", "--json")
    assert unpkg["images"][0]["destination"] == f"{fresh_registry.host}/restored"
    assert unpkg["images"][0]["destination_digest"] == seeded["json/app:v1"].digest

    layout = tmp_path / "layout"
    copied = report("copy", f"docker://{app}", f"oci:{layout}", "--json")
    assert copied["output"] == {"path": str(layout), "written": True, "without": []}
    failed = report("copy", f"docker://{missing}", f"oci:{tmp_path / 'other'}", "--json", code=1)
    assert failed["counts"]["outcomes"] == {"failed": 1} and failed["output"]["written"] is False

    verified = report("verify", str(tar), "--json")
    assert verified["images"][0]["outcome"] == "verified"
    assert verified["images"][0]["source_digest"] == seeded["json/app:v1"].digest
    assert verified["throughput"]["bytes"] > 0 and verified["details"]["problems"] == []
    layer = json.loads(seeded["json/app:v1"].raw)["layers"][0]["digest"]
    blob = layout / "blobs" / "sha256" / layer.removeprefix("sha256:")
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    broken = report("verify", str(layout), "--json", code=1)
    assert broken["images"][0]["outcome"] == "failed" and layer in broken["images"][0]["error"]
    assert broken["counts"]["blobs"]["failed"] == 1 and len(broken["details"]["problems"]) == 1

    listed = report("ls", str(tar), "--json")
    assert [(i["reference"], i["source_digest"], i["outcome"]) for i in listed["images"]] == [
        (app, seeded["json/app:v1"].digest, "listed")]
    assert listed["details"]["entries"][0]["digest"] == seeded["json/app:v1"].digest


def test_resolve_inspect_and_bench(registry: Registry, fresh_registry: Registry,
                                   seeded: dict[str, Image], tmp_path: Path) -> None:
    app, missing = f"{registry.host}/json/app:v1", f"{registry.host}/json/gone:v1"
    good = tmp_path / "good.yaml"
    good.write_text(f"image: {app}\n")
    resolved = report("resolve", "-f", str(good), "--json")
    (image,) = resolved["images"]
    assert (image["reference"], image["source_digest"], image["outcome"]) == (
        app, seeded["json/app:v1"].digest, "resolved")
    assert resolved["details"]["yaml"] == f"image: {image['destination']}\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"a:\n  image: {app}\nb:\n  image: {missing}\n")
    unresolved = report("resolve", "-f", str(bad), "--json", code=1)
    assert unresolved["counts"]["outcomes"] == {"failed": 1, "resolved": 1}
    assert unresolved["details"]["yaml"] is None and missing in by_ref(unresolved)[missing]["error"]

    found = report("inspect", f"{registry.host}/json/multi:v1", "--json")
    assert found["images"][0]["source_digest"] == seeded["json/multi:v1"].digest
    assert len(found["details"]["children"]) == 2
    lost = report("inspect", missing, "--json", code=1)
    assert lost["images"][0]["outcome"] == "failed" and lost["details"] == {}

    bench = report("bench", f"{fresh_registry.host}/bench/json", "--blob-size", "64KiB", "--count", "2",
                   "--concurrency", "1", "--warmup", "0", "--json")
    assert bench["images"] == [] and bench["details"]["results"]
    assert bench["throughput"]["bytes"] == sum(r["bytes"] for r in bench["details"]["results"])


def test_sync_run_dry_run_and_list_tags(registry: Registry, fresh_registry: Registry,
                                        seeded: dict[str, Image], tmp_path: Path) -> None:
    src, dst = f"{registry.host}/json/app", f"{fresh_registry.host}/synced/app"
    tags = report("sync", src, dst, "--list-tags", "--json", state=tmp_path)
    assert tags["details"]["tags"] == {f"{src} -> {dst}": ["v1"]}
    plan = report("sync", src, dst, "--dry-run", "--json", state=tmp_path)
    assert plan["dry_run"] is True and plan["images"][0]["outcome"] == "add"
    results = tmp_path / "results.jsonl"
    done = report("sync", src, dst, "--json", "--results", str(results), state=tmp_path)
    (image,) = done["images"]
    assert [json.loads(line) for line in results.read_text().splitlines()] == done["images"]
    assert image == {"reference": f"{src}:v1", "source_digest": seeded["json/app:v1"].digest,
                     "destination": f"{dst}:v1", "destination_digest": seeded["json/app:v1"].digest,
                     "destination_digest_before": None, "outcome": "added", "error": None}
    assert done["details"]["manifest_requests"][registry.host]["GET"] >= 1


def test_sync_list_tags_reports_a_source_it_cannot_list_as_a_failed_image(
        registry: Registry, seeded: dict[str, Image], tmp_path: Path) -> None:
    src, missing = f"{registry.host}/json/app", f"{registry.host}/json/nothing"
    down = f"127.0.0.1:{free_port()}/gone/app"  # nothing listens there
    dst = f"{registry.host}/listed"  # --list-tags writes nothing
    config = tmp_path / "sync.yaml"
    config.write_text("mirrors:\n" + "".join(f"  - source: {source}\n    target: {dst}/{i}\n"
                                             for i, source in enumerate((src, missing, down))))
    tags = report("sync", "-f", str(config), "--list-tags", "--json", "--retries", "0", code=1,
                  state=tmp_path / "state")
    assert tags["dry_run"] is True and tags["counts"]["outcomes"] == {"failed": 2}
    assert [(i["reference"], i["destination"], i["outcome"]) for i in tags["images"]] == [
        (missing, f"{dst}/1", "failed"), (down, f"{dst}/2", "failed")]
    errors = {i["reference"]: i["error"] for i in tags["images"]}
    assert "NAME_UNKNOWN" in errors[missing] and down.split("/")[0] in errors[down]
    assert tags["details"]["tags"] == {f"{src} -> {dst}/0": ["v1"],
                                       f"{missing} -> {dst}/1": f"error: {errors[missing]}",
                                       f"{down} -> {dst}/2": f"error: {errors[down]}"}
