"""relocate killed mid-upload, then run again: the re-run resumes the large blob's upload session
from the offset the registry reports, where the registry kept the bytes (KeepingFront), and starts
a new session where it did not (distribution 2.8 drops a session cut mid-body). The kill point is
counted in bytes through the front, not in seconds."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

import pytest

from relocator.stores.uploadbook import UploadBook
from tests.commands.test_kills import run_killed
from tests.images import Image, random_image, seed, sha256, skopeo_raw_manifest
from tests.proxy import FaultProxy
from tests.registries import Registry
from tests.reports import load as load_report
from tests.sessions import KeepingFront

MiB = 1024 * 1024
LAYER = 24 * MiB


async def _relocate(source: str, front: FaultProxy, prefix: str, kill_at: int | None,
                    out: list[str] | None = None) -> int:
    """Run ``relocate -i SOURCE --prefix FRONT/PREFIX`` (``unpkg`` when SOURCE is a tarball);
    with ``kill_at``, SIGKILL it once that many body bytes went through the front in this run.
    Returns its exit status; ``out`` gets its ``--json`` report."""
    args = (["unpkg", "-i", source, "--repository", f"{front.host}/{prefix}"] if source.endswith(".tar")
            else ["relocate", "-i", source, "--prefix", f"{front.host}/{prefix}"])
    code, _, _ = await run_killed(front, [*args, "--json"], kill_at, out)
    await asyncio.sleep(0.2)  # let the front's handler of the cut request finish forwarding
    return code


def _seed(reg: Registry, repo: str) -> tuple[Image, str]:
    image = random_image(random.Random(repo), (LAYER, 2000))
    seed(reg, repo, "v1", image)
    return image, f"{reg.host}/{repo}:v1"


def _digest_at(reg: Registry, ref: str) -> str:
    return sha256(skopeo_raw_manifest(reg, ref))


def _kept(state_dir: Path) -> list[dict[str, object]]:
    uploads = state_dir / "uploads"
    return [json.loads(p.read_text()) for p in uploads.glob("*.json")] if uploads.exists() else []


@pytest.mark.parametrize("command", ["relocate", "unpkg"])
async def test_killed_run_resumes_the_upload_the_registry_kept(
        registry: Registry, fresh_registry: Registry, state_dir: Path, tmp_path: Path, command: str) -> None:
    image, source = _seed(registry, f"ukill/kept-{command}")
    repo, ref = f"m/ukill/kept-{command}", f"m/ukill/kept-{command}:v1"
    if command == "unpkg":
        pkg = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relocator", "pkg", "-i", source, "-o", str(tmp_path / "in.tar"),
            stdout=asyncio.subprocess.DEVNULL)
        assert await pkg.wait() == 0
        source, repo = str(tmp_path / "in.tar"), "u"
        ref = f"u@{image.digest}"
    front = await KeepingFront(fresh_registry).start()
    try:
        assert await _relocate(source, front, repo if command == "unpkg" else "m", kill_at=10 * MiB) != 0
        (entry,) = _kept(state_dir)
        assert str(entry["location"]).startswith(f"/v2/{repo}/blobs/uploads/")
        assert (state_dir / "uploads").stat().st_mode & 0o777 == 0o700
        held = max(s.held for s in front.sessions.values())
        assert held >= 8 * MiB
        before, uploads_before = front.received, len(front.uploads)
        out: list[str] = []
        assert await _relocate(source, front, repo if command == "unpkg" else "m", None, out) == 0
        sent_again = front.received - before
    finally:
        await front.stop()
    # The re-run asked the session where it stood and sent only the rest of the layer.
    resumed = [r for m, r in front.uploads[uploads_before:] if m == "PUT" and r]
    assert resumed == [f"{held}-{LAYER - 1}"]
    assert sent_again <= LAYER - held + MiB
    # The report's bytes are what moved, not the layer's size (the config may go too: 2,000 bytes).
    moved = load_report(out[0])["throughput"]["bytes"]
    assert LAYER - held <= moved <= LAYER - held + 2000
    assert _digest_at(fresh_registry, ref) == image.digest
    assert _kept(state_dir) == []


async def test_killed_relocate_starts_over_where_the_registry_dropped_the_session(
        registry: Registry, fresh_registry: Registry, state_dir: Path) -> None:
    image, source = _seed(registry, "ukill/dropped")
    proxy = await FaultProxy(fresh_registry).start()
    try:
        assert await _relocate(source, proxy, "m", kill_at=10 * MiB) != 0
        assert len(_kept(state_dir)) == 1
        out: list[str] = []
        assert await _relocate(source, proxy, "m", None, out) == 0
    finally:
        await proxy.stop()
    assert load_report(out[0])["throughput"]["bytes"] >= LAYER  # the layer went again, whole
    assert _digest_at(fresh_registry, "m/ukill/dropped:v1") == image.digest
    # The kept session was asked for once, and the registry had dropped it: a new one took over.
    assert fresh_registry.requests("GET", "m/ukill/dropped/blobs/uploads/.*") == 1
    assert _kept(state_dir) == []


async def test_entry_of_a_blob_the_destination_holds_is_dropped(
        registry: Registry, fresh_registry: Registry, state_dir: Path) -> None:
    """A run killed between its closing PUT and forgetting the session leaves an entry for a blob
    that is there: the next run skips the blob (HEAD) and drops the entry; a dry run leaves it."""
    image, source = _seed(registry, "ukill/stale")
    seed(fresh_registry, "m/ukill/stale", None, image)
    layer = json.loads(image.raw)["layers"][0]["digest"]
    UploadBook(state_dir / "uploads").keep(fresh_registry.host, "m/ukill/stale", layer,
                                           "/v2/m/ukill/stale/blobs/uploads/committed")
    proxy = await FaultProxy(fresh_registry).start()
    try:
        args = ["relocate", "-i", source, "--prefix", f"{fresh_registry.host}/m"]
        code, _, err = await run_killed(proxy, [*args, "--dry-run"], None)
        assert code == 0, err
        assert len(_kept(state_dir)) == 1
        code, _, err = await run_killed(proxy, args, None)
        assert code == 0, err
    finally:
        await proxy.stop()
    assert _digest_at(fresh_registry, "m/ukill/stale:v1") == image.digest
    assert _kept(state_dir) == []
    assert fresh_registry.requests("GET", "m/ukill/stale/blobs/uploads/.*") == 0
