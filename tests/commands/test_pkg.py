"""pkg, unpkg and verify against real registries, checked with skopeo, umoci and tar."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests import reports
from tests.images import (
    Image,
    random_image,
    random_index,
    seed,
    sha256,
    skopeo,
    skopeo_raw_manifest,
    valid_image,
)
from tests.registries import Registry, start_registry

ENV = {**os.environ, "DOCKER_CONFIG": "/nonexistent"}


def cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relocator", *args], capture_output=True, text=True,
                          timeout=300, env=ENV, **kw)  # type: ignore[call-overload]


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``cli`` without blocking the event loop, so fault servers in the test's loop keep serving."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "relocator", *args, env=ENV,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        async with asyncio.timeout(300):  # a guard against a hang, never the assertion
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


def _corpus(reg: Registry, seed_value: int) -> dict[str, Image]:
    """Single images (OCI and Docker), an index, a nested index, an artifact."""
    rng = random.Random(seed_value)
    inner = random_index([valid_image(rng, (300,)), valid_image(rng, (400,))])
    images = {
        "pkg/oci:v1": valid_image(rng, (5000, 7000)),
        "pkg/docker:v1": valid_image(rng, (6000,), docker=True),
        "pkg/multi:v1": random_index([valid_image(rng, (2000,)), valid_image(rng, (3000,))]),
        "pkg/nested:v1": random_index([inner, valid_image(rng, (500,))]),
        "pkg/artifact:sig": random_image(rng, (100,), config_media_type="application/vnd.example+json"),
    }
    for name, image in images.items():
        repo, tag = name.split(":")
        seed(reg, repo, tag, image)
    return {f"{reg.host}/{name}": image for name, image in images.items()}


def test_pkg_unpkg_round_trip_and_interop(registry: Registry, fresh_registry: Registry,
                                          tmp_path: Path) -> None:
    refs = _corpus(registry, 40)
    out, lock = tmp_path / "images.tar", tmp_path / "pkg.lock"
    proc = cli("pkg", *[a for r in refs for a in ("-i", r)], "-o", str(out), "--lock-output", str(lock))
    assert proc.returncode == 0, proc.stderr
    assert not Path(str(out) + ".partial").exists()
    with tarfile.open(out) as tar:
        names = tar.getnames()
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert names[0] == "oci-layout" and names[-1] == "index.json"
    assert len(names) == len(set(names))  # each blob once
    by_name = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
    assert set(by_name) == set(refs)
    for ref, image in refs.items():
        assert by_name[ref]["digest"] == image.digest and by_name[ref]["mediaType"] == image.media_type
        assert f"done {ref} -> {out} ({image.digest})" in proc.stderr  # says where the image went
    oci = f"{registry.host}/pkg/oci"
    assert f"newImage: {oci}@{refs[f'{oci}:v1'].digest}" in lock.read_text()

    # skopeo 1.9.3 finds OCI-typed descriptors only; for those it reads and copies the original bytes.
    for ref, image in refs.items():
        if "docker" in image.media_type:
            continue
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}:{ref}"], capture_output=True,
                             check=True).stdout
        assert sha256(raw) == image.digest
    oci_ref = f"{registry.host}/pkg/multi:v1"
    skopeo("copy", "-q", "--all", "--dest-tls-verify=false", f"oci-archive:{out}:{oci_ref}",
           f"docker://{fresh_registry.host}/via-skopeo/multi:v1")
    assert sha256(skopeo_raw_manifest(fresh_registry, "via-skopeo/multi:v1")) == refs[oci_ref].digest

    unlock = tmp_path / "unpkg.lock"
    proc = cli("unpkg", "-i", str(out), "--prefix", f"{fresh_registry.host}/restored", "--lock-output",
               str(unlock), "--json")
    assert proc.returncode == 0, proc.stderr
    for ref, image in refs.items():
        path_tag = ref.split("/", 1)[1]
        assert sha256(skopeo_raw_manifest(fresh_registry, f"restored/{path_tag}")) == image.digest
    assert unlock.read_text().count("preresolved: true") == len(refs)
    one = cli("unpkg", "-i", str(out), "--repository", f"{fresh_registry.host}/bundle")
    assert one.returncode == 0, one.stderr
    digest = refs[f"{registry.host}/pkg/nested:v1"].digest
    assert sha256(skopeo_raw_manifest(fresh_registry, f"bundle@{digest}")) == digest

    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(out) as tar:
        tar.extractall(layout, filter="data")
    listed = subprocess.run(["umoci", "ls", "--layout", str(layout)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert sorted(listed) == sorted(refs)
    ok = cli("verify", str(out))
    assert ok.returncode == 0 and "ok: 5 references" in ok.stdout, ok.stdout + ok.stderr


def test_pkg_to_stdout_pipes_into_tar(registry: Registry, tmp_path: Path) -> None:
    refs = _corpus(registry, 41)
    with subprocess.Popen([sys.executable, "-m", "relocator", "pkg", "-i", next(iter(refs)), "-o", "-"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as pkg:
        listing = subprocess.run(["tar", "t"], stdin=pkg.stdout, capture_output=True, text=True, timeout=60)
        assert pkg.wait(60) == 0
        assert pkg.stderr is not None and "1 done, 0 failed" in pkg.stderr.read().decode()
    names = listing.stdout.split()
    assert listing.returncode == 0 and names[0] == "oci-layout" and names[-1] == "index.json"


def test_verify_catches_flipped_byte_and_missing_blob(registry: Registry, tmp_path: Path) -> None:
    refs = _corpus(registry, 42)
    ref = f"{registry.host}/pkg/oci:v1"
    out = tmp_path / "one.tar"
    assert cli("pkg", "-i", ref, "-o", str(out)).returncode == 0
    layer = list(refs[ref].blobs)[-1]
    with tarfile.open(out) as tar:
        member = tar.getmember(f"blobs/sha256/{layer.split(':')[1]}")
    flipped = tmp_path / "flipped.tar"
    data = bytearray(out.read_bytes())
    data[member.offset_data + 10] ^= 0xFF
    flipped.write_bytes(bytes(data))
    bad = cli("verify", str(flipped))
    assert bad.returncode == 1 and layer in bad.stdout and "hashes to" in bad.stdout
    missing = tmp_path / "missing.tar"
    with tarfile.open(out) as src, tarfile.open(missing, "w") as dst:
        for m in src.getmembers():
            if m.name != member.name:
                dst.addfile(m, src.extractfile(m))
    gone = cli("verify", str(missing))
    assert gone.returncode == 1 and f"child {layer} is missing" in gone.stdout


def _tar_with(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        layout = tarfile.TarInfo("oci-layout")
        layout.size = 30
        tar.addfile(layout, io.BytesIO(b'{"imageLayoutVersion":"1.0.0"}'))
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        index = b'{"schemaVersion":2,"manifests":[]}'
        info = tarfile.TarInfo("index.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("symlink", "symbolic link"), ("hardlink", "hard link"), ("device", "device"),
    ("absolute", "points outside the layout"), ("dotdot", "points outside the layout"),
    ("outside", "not part of an OCI image layout"), ("duplicate", "appears twice with different content"),
])
def test_unsafe_members_refused(kind: str, message: str, tmp_path: Path) -> None:
    blob = b"some blob"
    name = f"blobs/sha256/{sha256(blob).split(':')[1]}"
    info = tarfile.TarInfo(name)
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    if kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        members = [(info, b"")]
    elif kind == "hardlink":
        info.type, info.linkname = tarfile.LNKTYPE, "oci-layout"
        members = [(info, b"")]
    elif kind == "device":
        info.type = tarfile.CHRTYPE
        members = [(info, b"")]
    elif kind == "absolute":
        members = [(tarfile.TarInfo("/" + name), blob)]
    elif kind == "dotdot":
        members = [(tarfile.TarInfo("blobs/../../evil"), blob)]
    elif kind == "outside":
        members = [(tarfile.TarInfo("etc/cron.d/evil"), blob)]
    elif kind == "duplicate":
        members = [(tarfile.TarInfo(name), blob), (tarfile.TarInfo(name), b"other blob")]
    path = _tar_with(tmp_path / f"{kind}.tar", members)
    for args in (["verify", str(path)], ["unpkg", "-i", str(path), "--repository", "127.0.0.1:1/x"]):
        proc = cli(*args)
        assert proc.returncode in (1, 2), proc
        assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert not (tmp_path / "etc").exists() and not Path("/evil").exists()


def test_size_mismatch_with_descriptor_refused(registry: Registry, tmp_path: Path) -> None:
    refs = _corpus(registry, 43)
    ref = f"{registry.host}/pkg/oci:v1"
    out = tmp_path / "one.tar"
    assert cli("pkg", "-i", ref, "-o", str(out)).returncode == 0
    image = refs[ref]
    doc = json.loads(image.raw)
    doc["layers"][0]["size"] += 1  # the manifest now lies about a member's size
    raw = json.dumps(doc).encode()
    lying = tmp_path / "lying.tar"
    with tarfile.open(out) as src, tarfile.open(lying, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "index.json":
                index = json.loads(data)
                index["manifests"][0].update(digest=sha256(raw), size=len(raw))
                data = json.dumps(index).encode()
                extra = tarfile.TarInfo(f"blobs/sha256/{sha256(raw).split(':')[1]}")
                extra.size = len(raw)
                dst.addfile(extra, io.BytesIO(raw))
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    proc = cli("verify", str(lying))
    assert proc.returncode == 1 and "bytes, the manifest says" in proc.stdout


def test_killed_pkg_resumes_to_identical_bytes(tmp_path: Path) -> None:
    src = start_registry(tmp_path / "src")
    try:
        rng = random.Random(44)
        refs = []
        for i in range(6):
            seed(src, f"big/app{i}", "v1", valid_image(rng, (6 * 1024 * 1024, 3 * 1024 * 1024)))
            refs.append(f"{src.host}/big/app{i}:v1")
        inputs = [a for r in refs for a in ("-i", r)]
        # The layout comes from the plan: 16 downloads at once give the same bytes as one at a time.
        whole = tmp_path / "whole.tar"
        assert cli("pkg", *inputs, "-o", str(whole)).returncode == 0
        total = whole.stat().st_size
        args = [*inputs, "--concurrency", "1"]
        serial = tmp_path / "serial.tar"
        assert cli("pkg", *args, "-o", str(serial)).returncode == 0
        assert serial.read_bytes() == whole.read_bytes()

        out = tmp_path / "resumed.tar"
        partial = Path(str(out) + ".partial")
        # Ctrl-C at a quarter, then kill -9 at half: neither may leave a tar behind.
        for sig, share, code in ((signal.SIGINT, 4, 130), (signal.SIGKILL, 2, -signal.SIGKILL)):
            proc = subprocess.Popen([sys.executable, "-m", "relocator", "pkg", *args, "-o", str(out)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                # The partial file is sparse at full size: count the blocks written so far.
                if partial.exists() and partial.stat().st_blocks * 512 >= total // share:
                    proc.send_signal(sig)
                    break
                time.sleep(0.002)
            proc.wait(30)
            assert proc.returncode == code, f"pkg ended with {proc.returncode} before {sig.name}"
            assert partial.exists() and not out.exists()
        mark = len(src.log())
        done = cli("pkg", *args, "-o", str(out), "--json")
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == whole.read_bytes()
        assert not partial.exists()
        # The resumed run kept the verified blobs and fetched only the rest, each once.
        report = reports.load(done.stdout)
        blobs = report["counts"]["blobs"]
        assert blobs["skipped"] >= 1 and blobs["transferred"] + blobs["skipped"] == 18
        gets = [ln for ln in src.log()[mark:].splitlines() if '"GET /v2/big/' in ln and "/blobs/" in ln]
        assert len(gets) == blobs["transferred"]
        # And of the blob cut off mid-way, only the bytes its journal had not counted (a Range
        # GET, answered 206): the registry's access log says what it sent, at most the missing
        # half plus one read chunk (256 KiB) and 64 KiB for the tar's headers and the file
        # system's block rounding in the blocks counted above.
        sent = sum(int(ln.split('" ')[1].split()[1]) for ln in gets)
        assert sent <= total - total // 2 + (256 + 64) * 1024, (sent, total)
        assert sum('" 206 ' in ln for ln in gets) <= 1  # none if the kill fell between two blobs
    finally:
        src.stop()


def test_unpkg_from_skopeo_layout_and_oci_archive(registry: Registry, fresh_registry: Registry,
                                                  tmp_path: Path) -> None:
    refs = _corpus(registry, 45)
    ref = f"{registry.host}/pkg/multi:v1"
    layout, archive = tmp_path / "layout", tmp_path / "archive.tar"
    skopeo("copy", "-q", "--all", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:multi")
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/pkg/oci:v1",
           f"oci-archive:{archive}:single")
    for source, image in ((layout, refs[ref]), (archive, refs[f"{registry.host}/pkg/oci:v1"])):
        proc = cli("unpkg", "-i", str(source), "--repository", f"{fresh_registry.host}/from-skopeo")
        assert proc.returncode == 0, proc.stderr
        assert sha256(skopeo_raw_manifest(fresh_registry, f"from-skopeo@{image.digest}")) == image.digest


def test_pkg_writes_the_images_it_could_fetch_or_with_fail_fast_none(registry: Registry,
                                                                      tmp_path: Path) -> None:
    _corpus(registry, 47)
    out = tmp_path / "x.tar"
    partial = tmp_path / "x.tar.partial"
    missing, good = f"{registry.host}/pkg/missing:v1", f"{registry.host}/pkg/oci:v1"
    nothing = cli("pkg", "-i", missing, "-o", str(out))
    assert nothing.returncode == 1 and "missing:v1" in nothing.stdout + nothing.stderr
    assert f"did not write {out}: 1 of 1 images failed" in nothing.stdout
    assert list(tmp_path.iterdir()) == []
    strict = cli("pkg", "-i", missing, "-i", good, "-o", str(out), "--fail-fast")
    assert strict.returncode == 1 and f"failed: {good}: not started" in strict.stdout
    assert f"done {good}" not in strict.stderr and list(tmp_path.iterdir()) == []
    some = cli("pkg", "-i", missing, "-i", good, "-o", str(out))
    assert some.returncode == 1 and out.exists() and not partial.exists()
    assert f"wrote {out} without 1 of 2 images: {missing}" in some.stdout
    assert f"done {good} -> {out}" in some.stderr and f"done {missing}" not in some.stderr
    # The tar of the images that made it is the tar of those images alone, byte for byte.
    alone = tmp_path / "alone.tar"
    assert cli("pkg", "-i", good, "-o", str(alone)).returncode == 0
    assert out.read_bytes() == alone.read_bytes()


def test_second_pkg_on_the_same_output_is_refused(registry: Registry, tmp_path: Path) -> None:
    import fcntl

    _corpus(registry, 48)
    out = tmp_path / "nightly.tar"
    partial = tmp_path / "nightly.tar.partial"
    with partial.open("wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # the first run, still going
        second = cli("pkg", "-i", f"{registry.host}/pkg/oci:v1", "-o", str(out))
        assert second.returncode == 2
        assert "nightly.tar.partial: another relocator pkg is writing it" in second.stderr
        assert partial.exists() and not out.exists()
    assert cli("pkg", "-i", f"{registry.host}/pkg/oci:v1", "-o", str(out)).returncode == 0


def test_pkg_force_replaces_an_existing_tarball(registry: Registry, tmp_path: Path) -> None:
    """Without --force an existing file is refused (tests/commands/test_bad_input.py); with it,
    the new tarball takes its place whole."""
    image = valid_image(random.Random(91), (3000,))
    seed(registry, "pkg/force", "v1", image)
    out = tmp_path / "out.tar"
    out.write_text("last night's backup\n")
    done = cli("pkg", "-i", f"{registry.host}/pkg/force:v1", "-o", str(out), "--force")
    assert done.returncode == 0, done.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}:{registry.host}/pkg/force:v1"],
                         capture_output=True, timeout=120, check=True).stdout
    assert sha256(raw) == image.digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]
