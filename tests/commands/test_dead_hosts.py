"""Registries that stop answering: each try is bounded by a timeout and logged, a host that answers
none of a request's tries is given up on at once for all its remaining work (issue 13)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests import reports
from tests.commands.test_pkg import run_cli
from tests.faults import DeadServer
from tests.images import random_image, seed, skopeo_raw_manifest
from tests.proxy import FaultProxy
from tests.registries import Registry, free_port

WARNING = "relocator: WARNING: "


def _seed(reg: Registry, repo: str, count: int, seed_value: int) -> list[str]:
    rng = random.Random(seed_value)
    refs = []
    for i in range(count):
        seed(reg, f"{repo}{i}", "v1", random_image(rng, (3000,)))
        refs.append(f"{reg.host}/{repo}{i}:v1")
    return refs


def _inputs(refs: list[str], host: str, via: str | None = None) -> list[str]:
    """``-i REF`` for each reference, through the host ``via`` when given."""
    return [a for r in refs for a in ("-i", r.replace(host, via) if via else r)]


def _warnings(stderr: str) -> list[str]:
    """Our WARNING lines; a retry line without its jittered delay."""
    return [line.removeprefix(WARNING).split(" in ")[0] if " in " in line and "retrying" in line
            else line.removeprefix(WARNING) for line in stderr.splitlines() if line.startswith(WARNING)]


async def test_a_destination_that_accepts_and_never_answers_fails_every_image_at_once(
        registry: Registry) -> None:
    refs = _seed(registry, "stalled/app", 3, 80)
    dead = await DeadServer(plain=True).start()
    try:
        proc = await run_cli("relocate", *_inputs(refs, registry.host), "--prefix", dead.host,
                             "--retries", "2", "--read-timeout", "1")
    finally:
        await dead.stop()
    assert proc.returncode == 1, proc.stderr
    down = (f"{dead.host}: not answering (timed out waiting for data (--read-timeout)); "
            "giving up on its remaining work")
    # One line per retry, one when the host is given up on; nothing per request after that.
    assert _warnings(proc.stderr) == [f"retrying {dead.host} (1/2)", f"retrying {dead.host} (2/2)", down]
    assert sorted(ln for ln in proc.stderr.splitlines() if ln.startswith("FAILED")) == [
        f"FAILED {ref}: {down}" for ref in refs]
    # The ping's three tries (each after an https probe the server refuses in plain HTTP): not
    # three for each of the 3 images' 9 blob and manifest requests and 3 tags.
    assert dead.unanswered == 3


async def test_a_source_refusing_connections_fails_every_image_at_once(fresh_registry: Registry) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    refs = [f"{host}/gone/app{i}:v1" for i in range(3)]
    proc = await run_cli("relocate", *_inputs(refs, host), "--prefix", fresh_registry.host,
                         "--retry-times", "2", "--json")  # skopeo's spelling of --retries
    assert proc.returncode == 1, proc.stderr
    down = f"{host}: not answering (cannot connect (Connection refused)); giving up on its remaining work"
    assert _warnings(proc.stderr) == [f"retrying {host} (1/2)", f"retrying {host} (2/2)", down]
    assert reports.errors(reports.load(proc.stdout)) == dict.fromkeys(refs, down)


async def test_a_source_that_stops_answering_mid_run_fails_its_remaining_blobs_at_once(
        registry: Registry, fresh_registry: Registry) -> None:
    refs = _seed(registry, "midrun/app", 3, 81)
    proxy = await FaultProxy(registry, blob_faults={"*": "stall"}).start()  # manifests still come
    try:
        proc = await run_cli("relocate", *_inputs(refs, registry.host, proxy.host),
                             "--prefix", fresh_registry.host, "--retries", "1", "--read-timeout", "1",
                             "--concurrency", "1", "--json")
    finally:
        await proxy.stop()
    assert proc.returncode == 1, proc.stderr
    down = ": not answering (timed out waiting for data (--read-timeout)); giving up on its remaining work"
    errors = reports.errors(reports.load(proc.stdout))
    assert len(errors) == 3, errors
    for image, why in errors.items():  # named as the source's blob, whichever blob it met first
        assert why.startswith(f"source {image.removesuffix(':v1')}: blob sha256:") and why.endswith(down), why
    assert proxy.hits["blob"] == 2  # the first blob's two tries; the other five blobs never asked
    assert fresh_registry.requests("PUT", "midrun/.*/manifests/.*") == 0


async def test_a_source_sending_1_byte_per_second_fails_instead_of_hanging(registry: Registry,
                                                                          tmp_path: Path) -> None:
    refs = _seed(registry, "trickle/app", 2, 82)
    layer = json.loads(skopeo_raw_manifest(registry, "trickle/app0:v1"))["layers"][0]["digest"]
    # 4 bytes/s: never a pause as long as the 1 s read timeout, so only the speed floor can stop it.
    proxy = await FaultProxy(registry, blob_faults={layer: "slow"}, slow_rate=4).start()
    out = tmp_path / "t.tar"
    try:
        proc = await run_cli("pkg", *_inputs(refs, registry.host, proxy.host), "-o", str(out),
                             "--retries", "1", "--read-timeout", "1", "--json")
    finally:
        await proxy.stop()
    assert proc.returncode == 1, proc.stderr
    report = reports.load(proc.stdout)
    slow = f"{proxy.host}/trickle/app0"
    assert list(reports.errors(report)) == [f"{slow}:v1"]
    assert list(reports.copied(report)) == [f"{proxy.host}/trickle/app1:v1"]
    why = reports.errors(report)[f"{slow}:v1"]
    assert why.startswith(f"source {slow}: blob {layer}: too slow ("), why
    assert why.endswith(" under 1024 bytes/s; --read-timeout)"), why
    assert _warnings(proc.stderr) == [f"retrying {proxy.host} (1/1)"]  # a trickle is not a dead host
    # pkg writes what it could fetch: the tarball holds app1, and says it lacks the slow one.
    assert out.exists() and report["output"] == {"path": str(out), "written": True, "without": [f"{slow}:v1"]}


async def test_timeouts_and_retries_are_checked_before_any_transfer(registry: Registry) -> None:
    ref = f"{registry.host}/none/app:v1"
    for flag, value, why in (("--read-timeout", "0", "--read-timeout must be a number of seconds above 0"),
                             ("--connect-timeout", "nan", "--connect-timeout must be a number of seconds"),
                             ("--retries", "-1", "--retries must be 0 or more, got -1")):
        proc = await run_cli("relocate", "-i", ref, "--prefix", registry.host, flag, value)
        assert proc.returncode == 2 and proc.stderr.startswith(f"relocator: error: {why}"), proc.stderr
        assert len(proc.stderr.splitlines()) == 1


async def test_a_destination_resetting_every_connection_fails_every_image_at_once(
        registry: Registry) -> None:
    refs = _seed(registry, "reset/app", 4, 83)
    dead = await DeadServer(reset=True).start()
    try:
        proc = await run_cli("relocate", *_inputs(refs, registry.host), "--prefix", dead.host,
                             "--retries", "1", "--json")
    finally:
        await dead.stop()
    assert proc.returncode == 1, proc.stderr
    errors = reports.errors(reports.load(proc.stdout))
    assert set(errors) == set(refs)
    assert len(set(errors.values())) == 1  # the same words for every image
    [why] = set(errors.values())
    assert why.startswith(f"{dead.host}: not answering (")
    assert why.endswith("); giving up on its remaining work")
    # The ping's two tries, each an https probe and, when the reset reads as a TLS error, plain
    # http after it: at most 4, where a ping per request (8 blob checks at least) made 8 or more.
    assert 2 <= dead.connections <= 4
