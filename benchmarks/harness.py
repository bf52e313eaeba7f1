"""What the side-by-side benchmarks share: a timed run of a tool, the registries a run starts (or is
given) and stops, the locally seeded corpus, and counts from a registry's access log.

A benchmark measures and prints; it never asserts on timings.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from benchmarks.corpus import MB, build, seed
from tests.registries import Registry, start_registry

ROOT = Path(__file__).resolve().parents[1]
RELOCATOR = str(ROOT / ".venv/bin/relocator")

__all__ = ["MB", "RELOCATOR", "ROOT", "Registries", "Row", "access_log", "request_counts", "timed"]


@dataclass
class Row:
    """One contender's run: wall seconds, peak RSS in MB, whether it succeeded, a note."""

    name: str
    seconds: float
    rss_mb: float
    ok: bool
    note: str = ""


def timed(cmd: list[str], wrap: list[str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run under GNU time: wall seconds, peak RSS in MB (largest process), and the result."""
    # Flush what the previous row left dirty, so no row pays for another's writeback.
    os.sync()
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        started = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, *wrap, *cmd],
                              capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        lines = [line for line in Path(out.name).read_text().splitlines() if line.strip().isdigit()]
    return seconds, (int(lines[-1]) / 1024 if lines else 0.0), proc


class Registries:
    """The registries one benchmark run uses, in a work directory of its own: ``fresh(name)`` gives
    the next ``--dest`` host if any were given, else starts an empty local registry. On exit every
    registry started here is stopped and the work directory removed (unless ``keep``)."""

    def __init__(self, prefix: str, dests: list[str] | None = None, *, keep: bool = False) -> None:
        self.work = Path(tempfile.mkdtemp(prefix=prefix))
        self.dests = list(dests or [])
        self.keep = keep
        self.started: list[Registry] = []

    def start(self, name: str) -> Registry:
        """A new local registry under the work directory (its access log readable)."""
        reg = start_registry(self.work / name)
        self.started.append(reg)
        return reg

    def fresh(self, name: str) -> str:
        """An empty registry's host: the next ``--dest``, else a new local one."""
        return str(self.dests.pop(0)) if self.dests else self.start(name).host

    def seeded_source(self, total_mb: int, refs: int, repos: int) -> tuple[Registry, list[str], int]:
        """A local registry seeded with the corpus (benchmarks/corpus.py): the registry, its
        references (``HOST/REPO:TAG``), and the corpus's unique bytes."""
        reg = self.start("source")
        corpus = build(total_mb * MB, refs, repos)
        asyncio.run(seed(reg.host, corpus))
        names = [f"{reg.host}/{repo}:{tag}" for repo, tag, _, _ in corpus.tags]
        return reg, names, corpus.unique_bytes

    def __enter__(self) -> Registries:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for reg in self.started:
            reg.stop()
        if not self.keep:
            subprocess.run(["rm", "-rf", str(self.work)], check=False)
        elif self.started:
            print(f"kept {self.work}", file=sys.stderr)


_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) /v2/(\S+?)(?:\?\S*)? HTTP/[\d.]+" (\d{3})')


def access_log(log: Path, mark: int = 0) -> list[tuple[str, str, int]]:
    """(method, path after /v2/, status) of every request distribution logged after byte ``mark``."""
    text = log.read_bytes()[mark:].decode(errors="replace")
    return [(m[1], m[2], int(m[3])) for m in _LINE.finditer(text)]


_KINDS = (("manifests", "manifest"), ("blobs/uploads", "upload"), ("blobs", "blob"), ("tags", "tags"),
          ("referrers", "referrers"))


def request_counts(lines: list[tuple[str, str, int]]) -> Counter[str]:
    """Requests by kind: ``manifest GET``, ``manifest HEAD``, ``blob GET``, ``tags GET`` ... plus
    ``total`` and ``404`` (answers that found nothing: a probe for a tag that is not there)."""
    counts: Counter[str] = Counter()
    for method, path, status in lines:
        kind = next((name for part, name in _KINDS if f"/{part}/" in f"/{path}"), "other")
        counts[f"{kind} {method}"] += 1
        counts["total"] += 1
        counts["404"] += status == 404
    return counts
