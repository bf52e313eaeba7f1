"""A 300 MiB blob pushed and pulled back, monolithic and in 5 MiB chunks, in flat memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.registries import Registry

ROOT = Path(__file__).resolve().parents[2]


def test_300_mib_blob_round_trip_in_flat_memory(fresh_registry: Registry) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.blob_rss", fresh_registry.host, "--mib", "300",
                           "--chunk-mib", "5"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["bytes"] == 300 * 1024 * 1024
    assert report["peak_rss_mb"] < 100, report
    # 300 MiB in 5 MiB chunks: 60 PATCHes, none for the monolithic upload.
    assert fresh_registry.requests("PATCH", "bench/blob-chunked/blobs/uploads/.*") == 60
    assert fresh_registry.requests("PATCH", "bench/blob-monolithic/blobs/uploads/.*") == 0
    digest = report["digest"]
    for repo in ("bench/blob-monolithic", "bench/blob-chunked"):
        assert fresh_registry.requests("GET", f"{repo}/blobs/{digest}") == 1
