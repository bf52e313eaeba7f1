"""Partial results: ``pkg`` and ``copy`` write every image they could fetch, name the others, exit 1;
``--fail-fast`` (``--all-or-nothing``) writes nothing unless all made it."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests import reports
from tests.commands.test_pkg import cli
from tests.commands.test_pkg_stream import _pkg
from tests.images import Image, seed, sha256, valid_image
from tests.proxy import FaultProxy
from tests.registries import Registry


@dataclass
class CorruptingProxy(FaultProxy):
    """Serves the blobs in ``corrupt`` with their second half flipped: verification fails mid-way
    through the download, after half of it reached the sink, on every try."""

    corrupt: set[str] = field(default_factory=set)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        digest = request.path.rsplit("/", 1)[-1]
        if request.method != "GET" or "/blobs/" not in request.path or digest not in self.corrupt:
            return await super().forward(request)
        assert self.session is not None
        async with self.session.get(f"{self.upstream.url}{request.path}") as up:
            body = bytearray(await up.read())
        half = len(body) // 2
        body[half:] = bytes(b ^ 0xFF for b in body[half:])
        return web.Response(body=bytes(body), content_type="application/octet-stream")


def _images(reg: Registry, seed_value: int) -> tuple[Image, Image, str]:
    """A good image, and a broken one sharing a layer with it whose own layer is the largest blob
    (first in the tar's layout: the writer reaches it before anything else of its image)."""
    rng = random.Random(seed_value)
    good = valid_image(rng, (3000, 2000))
    shared = good.blobs[json.loads(good.raw)["layers"][0]["digest"]]
    broken = valid_image(rng, (300_000,), shared_layers=(shared,))
    seed(reg, "partial/good", "v1", good)
    seed(reg, "partial/broken", "v1", broken)
    return good, broken, json.loads(broken.raw)["layers"][1]["digest"]


def _contents(path: Path) -> tuple[set[str], list[str]]:
    """Every member's name (the tar read to its end) and the names index.json lists."""
    with tarfile.open(path) as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert len(names) == len(set(names))
    return set(names), [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]


def _paths(image: Image) -> set[str]:
    return {f"blobs/sha256/{d.split(':')[1]}" for d in (*image.blobs, image.digest)}


async def test_pkg_writes_what_it_could_fetch_to_a_file_and_to_stdout(registry: Registry,
                                                                      tmp_path: Path) -> None:
    good, broken, layer = _images(registry, 130)
    proxy = await CorruptingProxy(registry, corrupt={layer}).start()
    try:
        ok, bad, missing = (f"{proxy.host}/partial/good:v1", f"{proxy.host}/partial/broken:v1",
                            f"{proxy.host}/partial/good:nope")
        inputs = ["-i", ok, "-i", bad, "-i", missing]
        out = tmp_path / "x.tar"
        code, stdout, stderr = await _pkg(*inputs, "-o", str(out))
        text = stdout.decode()
        assert code == 1, stderr
        assert f"wrote {out} without 2 of 3 images: {bad}, {missing}" in text
        assert f"failed: {bad}: source " in text and layer in text and f"failed: {missing}: " in text
        assert f"done {ok} -> {out} ({good.digest})" in stderr
        assert f"done {bad}" not in stderr and f"done {missing}" not in stderr
        assert await asyncio.to_thread(lambda: [p.name for p in tmp_path.iterdir()]) == ["x.tar"]

        code, piped, stderr = await _pkg(*inputs, "-o", "-", "--spool-dir", str(tmp_path / "spool"))
        assert code == 1
        assert f"wrote the tarball to stdout without 2 of 3 images: {bad}, {missing}" in stderr
        assert f"done {ok} -> stdout" in stderr and f"done {bad}" not in stderr
        assert piped == out.read_bytes()  # the same images kept: the same bytes either way

        code, _, stderr = await _pkg(*inputs, "-o", "-", "--json", stdout=asyncio.subprocess.DEVNULL)
        report = reports.load(stderr)
        assert code == 1 and report["output"] == {"path": "-", "written": True, "without": [bad, missing]}
        assert sorted(reports.errors(report)) == sorted([bad, missing])
        assert list(reports.copied(report)) == [ok]

        # The tar of the image that made it is that image's tar alone.
        alone = tmp_path / "alone.tar"
        code, _, stderr = await _pkg("-i", ok, "-o", str(alone))
        assert code == 0, stderr
        assert alone.read_bytes() == out.read_bytes()

        # All or nothing: a failure found while planning starts nothing; one found while copying
        # leaves no tarball (the partial file may stay, for a resume).
        strict = tmp_path / "strict.tar"
        code, stdout, stderr = await _pkg(*inputs, "-o", str(strict), "--fail-fast")
        assert code == 1 and f"did not write {strict}: 3 of 3 images failed" in stdout.decode()
        assert not strict.exists() and "done " not in stderr
        code, stdout, stderr = await _pkg("-i", ok, "-i", bad, "-o", str(strict), "--all-or-nothing")
        assert code == 1 and f"did not write {strict}" in stdout.decode() and "done " not in stderr
        assert not strict.exists()
    finally:
        await proxy.stop()
    await asyncio.to_thread(_holds_only, out, ok, good, broken)


def _holds_only(out: Path, ok: str, good: Image, broken: Image) -> None:
    """``out`` is a whole tar of ``good`` alone, named ``ok``: verify and skopeo read it."""
    names, named = _contents(out)
    assert named == [ok]  # index.json names the finished image only
    shared = f"blobs/sha256/{json.loads(good.raw)['layers'][0]['digest'].split(':')[1]}"
    assert names == {"oci-layout", "index.json", *_paths(good)} and shared in _paths(broken)
    verify = cli("verify", str(out))
    assert verify.returncode == 0 and "ok: 1 references" in verify.stdout, verify.stdout + verify.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}:{ok}"], capture_output=True,
                         check=True).stdout
    assert sha256(raw) == good.digest


def _flip(tar_path: Path, digest: str) -> None:
    """Damage one byte of a blob in a tarball."""
    with tarfile.open(tar_path) as tar:
        member = tar.getmember(f"blobs/sha256/{digest.split(':')[1]}")
    with tar_path.open("r+b") as f:
        f.seek(member.offset_data + member.size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_copy_into_a_layout_or_tarball_keeps_the_images_it_could_read(registry: Registry,
                                                                       tmp_path: Path) -> None:
    good, _, layer = _images(registry, 131)
    ok, bad = f"{registry.host}/partial/good:v1", f"{registry.host}/partial/broken:v1"
    source = tmp_path / "source.tar"
    assert cli("pkg", "-i", ok, "-i", bad, "-o", str(source)).returncode == 0
    _flip(source, layer)  # the broken image's own layer no longer matches its digest

    layout = tmp_path / "layout"
    # A blob that does not match its digest is the source tarball's fault: bad input (exit 2, one
    # error line naming tarball and member), whatever the run could still write.
    proc = cli("copy", f"oci-archive:{source}", f"oci:{layout}")
    assert proc.returncode == 2, proc.stderr
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("relocator: error:")]
    assert error.startswith(f"relocator: error: source {source}: member blobs/sha256/{layer.split(':')[1]}: "
                            "content does not match its digest")
    assert f"wrote {layout} without 1 of 2 images: {bad}" in proc.stdout and f"failed: {bad}: " in proc.stdout
    assert f"done {ok} -> {layout}" in proc.stderr and f"done {bad}" not in proc.stderr
    index = json.loads((layout / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [ok]
    assert cli("verify", str(layout)).returncode == 0

    archive = tmp_path / "copied.tar"
    proc = cli("copy", f"oci-archive:{source}", f"oci-archive:{archive}", "--json")
    report = reports.load(proc.stdout)
    assert proc.returncode == 2 and report["output"] == {"path": str(archive), "written": True,
                                                          "without": [bad]}
    names, named = _contents(archive)
    assert named == [ok] and names == {"oci-layout", "index.json", *_paths(good)}
    assert cli("verify", str(archive)).returncode == 0

    strict = tmp_path / "strict"
    proc = cli("copy", f"oci-archive:{source}", f"oci:{strict}", "--all-or-nothing")
    assert proc.returncode == 2 and f"did not write {strict}" in proc.stdout
    assert not (strict / "index.json").exists() and "done " not in proc.stderr
