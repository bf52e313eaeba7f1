"""relocator bench against a real registry: accuracy, ordering, cleanup, bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.registries import Registry


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relocator", "bench", *args], capture_output=True,
                          text=True, timeout=300)


async def plain_download_mb_s(reg: Registry, repo: str, blobs: list[dict[str, object]],
                              concurrency: int) -> float:
    """The same blobs fetched with bare aiohttp at the same concurrency, hashed as they arrive."""
    queue = list(blobs)
    total = 0
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async def worker() -> None:
            nonlocal total
            while queue:
                blob = queue.pop()
                h = hashlib.sha256()
                async with session.get(f"{reg.url}/v2/{repo}/blobs/{blob['digest']}") as resp:
                    async for chunk in resp.content.iter_chunked(256 * 1024):
                        h.update(chunk)
                        total += len(chunk)
                assert "sha256:" + h.hexdigest() == blob["digest"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / 1e6 / (time.perf_counter() - started)


async def test_pull_throughput_agrees_with_plain_download(fresh_registry: Registry) -> None:
    # Sub-second phases on a shared 2-core machine are noisy: compare medians of three each.
    repo = "bench/accuracy"
    bench_mb_s, plain_mb_s = [], []
    for _ in range(3):
        proc = bench(f"{fresh_registry.host}/{repo}", "--blob-size", "16MiB", "--count", "24",
                     "--concurrency", "4", "--keep", "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        bench_mb_s.append(next(r for r in report["results"] if r["phase"] == "pull")["mb_per_s"])
        plain_mb_s.append(await plain_download_mb_s(fresh_registry, repo, report["kept"][-24:], 4))
    measured, plain = statistics.median(bench_mb_s), statistics.median(plain_mb_s)
    print(f"bench pull {bench_mb_s} MB/s, plain aiohttp {[round(x) for x in plain_mb_s]} MB/s")
    assert abs(measured - plain) / plain <= 0.25, (bench_mb_s, plain_mb_s)


def test_rows_ordered_latencies_sane_and_cleanup(fresh_registry: Registry, tmp_path: Path) -> None:
    csv_path = tmp_path / "bench.csv"
    proc = bench(f"{fresh_registry.host}/bench/sweep", "--blob-size", "1MiB", "--blob-size", "256KiB",
                 "--count", "6", "--concurrency", "4,1,2", "--upload", "chunked", "--chunk-size",
                 "256KiB", "--json", "--csv", str(csv_path))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rows = report["results"]
    phases = ["push", "head", "pull", "mount", "manifest put", "manifest get"]
    expected = [(size, c, p) for size in (1 << 20, 256 << 10) for c in (4, 1, 2) for p in phases]
    assert [(r["blob_size"], r["concurrency"], r["phase"]) for r in rows] == expected
    for r in rows:
        assert r["samples"] == 6 and r["errors"] == 0
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]
        assert r["pool_wait_p99_ms"] is not None and r["pool_wait_p99_ms"] >= 0
    assert all(r["mb_per_s"] > 0 for r in rows if r["phase"] in ("push", "pull"))
    # 1 MiB in 256 KiB chunks is 4 PATCHes per blob: 6 blobs x 3 sweeps + warmup.
    assert fresh_registry.requests("PATCH", "bench/sweep/blobs/uploads/.*") >= 4 * 6 * 3
    assert csv_path.read_text().splitlines()[0].startswith("phase,blob_size,concurrency")
    assert len(csv_path.read_text().splitlines()) == len(rows) + 1
    assert any("deleted" in n for n in report["notes"])
    assert fresh_registry.requests("DELETE", "bench/sweep/blobs/sha256:.*") > 0


def test_text_output_has_table_and_sweep_chart(registry: Registry) -> None:
    proc = bench(f"{registry.host}/bench/text", "--blob-size", "256KiB", "--count", "4",
                 "--concurrency", "1,2")
    assert proc.returncode == 0, proc.stderr
    assert "pool wait p99 ms" in proc.stdout and "push 256KiB: MB/s by concurrency" in proc.stdout
    assert "\x1b" not in proc.stdout


def test_bad_input_before_any_traffic(fresh_registry: Registry) -> None:
    before = fresh_registry.log()
    for args in (["--blob-size", "0"], ["--blob-size", "1TiB"], ["--count", "0"], ["--concurrency", "0"],
                 ["--concurrency", "1,x"], ["--duration", "-1"]):
        proc = bench(f"{fresh_registry.host}/bench/bad", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) >= 1 and "error" in proc.stderr
    assert fresh_registry.log() == before
    unreachable = bench("127.0.0.1:1/bench/x", "--count", "1")
    assert unreachable.returncode == 1
    assert unreachable.stderr.strip().splitlines() == [
        line for line in unreachable.stderr.strip().splitlines() if "127.0.0.1:1" in line]


def test_no_push_rights_is_one_clear_line(token_registry: Registry) -> None:
    env = {"RELOCATOR_REGISTRY_HOSTNAME_0": token_registry.host, "RELOCATOR_REGISTRY_USERNAME_0": "reader",
           "RELOCATOR_REGISTRY_PASSWORD_0": "s3cret-reader", "DOCKER_CONFIG": "/nonexistent"}
    proc = subprocess.run([sys.executable, "-m", "relocator", "bench", f"{token_registry.host}/bench/ro",
                           "--count", "1"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and token_registry.host in lines[0] and "reader" in lines[0]
    assert "push" in lines[0] and "s3cret" not in proc.stderr
    assert token_registry.requests("PUT", "bench/ro/blobs/uploads/.*") == 0
