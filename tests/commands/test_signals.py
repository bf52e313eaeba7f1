"""SIGINT and SIGTERM: stop scheduling, let writes under way settle, say what finished and what
did not (and where a partial file was kept), exit 130 or 143 (issue 13)."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.commands.test_pkg import ENV, cli
from tests.images import Image, random_image, seed
from tests.proxy import FaultProxy
from tests.registries import Registry


def _images(reg: Registry, repo: str, seed_value: int) -> dict[str, Image]:
    rng = random.Random(seed_value)
    images = {}
    for i in range(3):
        image = random_image(rng, (4000 + i,))
        seed(reg, f"{repo}/app{i}", "v1", image)
        images[f"{repo}/app{i}:v1"] = image
    return images


async def _interrupt(args: list[str], sig: signal.Signals, after_done: int,
                     prefix: str = "done ") -> subprocess.CompletedProcess[str]:
    """Run relocator, send ``sig`` once ``after_done`` lines start with ``prefix`` (images reported
    done, or with -v blobs placed), collect the rest."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "relocator", *args, env=ENV,
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdout is not None
    head: list[str] = []
    async with asyncio.timeout(120):  # a guard against a hang, never the assertion
        while sum(line.startswith(prefix) for line in head) < after_done:
            line = (await proc.stderr.readline()).decode()
            assert line, f"relocator ended early: {''.join(head)}"
            head.append(line)
        proc.send_signal(sig)
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), "".join(head) + err.decode())


def _check_summary(proc: subprocess.CompletedProcess[str], sig: signal.Signals, done: list[str],
                   stalled: str, *, into_file: bool = False) -> None:
    assert proc.returncode == 128 + sig, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"relocator: error: interrupted by {sig.name}"
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("images: 2 done, 0 failed, 1 not finished (interrupted); "), proc.stdout
    assert f"not finished: {stalled}" in lines
    for ref in done:
        # A tarball that was not finished holds no image: no "done -> FILE" line for it.
        printed = any(line.startswith(f"done {ref} -> ") for line in proc.stderr.splitlines())
        assert printed != into_file, ref


@pytest.mark.parametrize(("verb", "sig"), [("pkg", signal.SIGTERM), ("relocate", signal.SIGINT)])
async def test_a_signal_mid_copy_says_what_finished(registry: Registry, fresh_registry: Registry,
                                                    tmp_path: Path, verb: str, sig: signal.Signals) -> None:
    images = _images(registry, f"sig{verb}", 90 if verb == "pkg" else 91)
    stalled_name = next(iter(images))
    layer = list(images[stalled_name].blobs)[-1]
    proxy = await FaultProxy(registry, blob_faults={layer: "stall"}).start()  # never finishes
    refs = [f"{proxy.host}/{name}" for name in images]
    out = tmp_path / "images.tar"
    where = ["-o", str(out)] if verb == "pkg" else ["--prefix", fresh_registry.host]
    # pkg holds "done" lines until the tarball is committed; -v says when an image is fetched.
    prefix, verbose = ("fetched ", ["-v"]) if verb == "pkg" else ("done ", [])
    try:
        proc = await _interrupt([verb, *verbose, *[a for r in refs for a in ("-i", r)], *where], sig,
                                after_done=2, prefix=prefix)
    finally:
        await proxy.stop()
    _check_summary(proc, sig, refs[1:], refs[0], into_file=verb == "pkg")
    if verb == "pkg":
        partial = tmp_path / "images.tar.partial"
        assert f"note: {partial} kept: the same command run again resumes from it" in proc.stdout
        assert partial.exists() and not out.exists()
    else:
        assert fresh_registry.requests("PUT", "sigrelocate/app0/manifests/.*") == 0
        assert fresh_registry.requests("PUT", "sigrelocate/app1/manifests/v1") == 1


async def test_sigterm_mid_unpkg_says_what_finished(registry: Registry, fresh_registry: Registry,
                                                    tmp_path: Path) -> None:
    images = _images(registry, "sigunpkg", 92)
    refs = [f"{registry.host}/{name}" for name in images]
    tar = tmp_path / "in.tar"
    assert cli("pkg", *[a for r in refs for a in ("-i", r)], "-o", str(tar)).returncode == 0
    layer = list(images["sigunpkg/app0:v1"].blobs)[-1]
    proxy = await FaultProxy(fresh_registry, stall_matching=layer).start()  # its HEAD never answers
    try:
        proc = await _interrupt(["unpkg", "-i", str(tar), "--prefix", proxy.host], signal.SIGTERM,
                                after_done=2)
    finally:
        await proxy.stop()
    _check_summary(proc, signal.SIGTERM, refs[1:], refs[0])
    assert fresh_registry.requests("PUT", "sigunpkg/app0/manifests/.*") == 0
