"""Transfer order: largest blob first across the run ("size") against image by image ("image"),
side by side in one run (issue 14: "if finishing images earlier costs no throughput, schedule so
that images complete steadily").

    python -m benchmarks.order [--total-mb 400] [--refs 20] [--repos 10] [--pairs 3]

Starts a source registry, seeds the corpus (benchmarks/corpus.py: shared base stacks, some
two-platform indexes), then relocates it with ``--prefix`` into a fresh registry per run, in this
process through ``commands.relocate.relocate`` with ``Limits(order=...)``, alternating the orders
so drift hits both. Per run: wall time, and when images finished (seconds from the start): the
first, the median, the 90th percentile and the mean as a share of the wall time (lower: images
arrive earlier). Prints; never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

from benchmarks.corpus import MB, build, seed
from relocator.commands.relocate import RelocateOptions, relocate
from relocator.config import Limits, Settings
from relocator.engine.events import Report
from relocator.engine.target import ImageInput, Target
from relocator.oci import Reference
from relocator.ui.render import QuietReporter
from tests.registries import Registry, start_registry

Order = Literal["size", "image"]


class Clock(QuietReporter):
    """When each image finished, in seconds from the reporter's creation."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.finished: list[float] = []

    def image_done(self, target: Target, error: str | None) -> None:
        self.finished.append(time.monotonic() - self.started)


async def one_run(order: Order, refs: list[str], dest: str) -> tuple[float, list[float], Report]:
    settings = Settings(limits=Limits(order=order))  # loopback: plain HTTP allowed
    inputs = [ImageInput(r, Reference.parse(r), "bench") for r in refs]
    clock = Clock()
    _, report = await relocate(settings, inputs, RelocateOptions(prefix=dest), clock)
    return time.monotonic() - clock.started, sorted(clock.finished), report


def row(order: Order, wall: float, finished: list[float], report: Report) -> str:
    p90 = finished[min(len(finished) - 1, int(0.9 * len(finished)))]
    return (f"| {order} | {wall:.2f} | {finished[0]:.2f} | {statistics.median(finished):.2f} | {p90:.2f} | "
            f"{statistics.mean(finished) / wall:.2f} | {report.bytes_moved / MB / wall:.0f} | "
            f"{len(report.done)}/{len(report.done) + len(report.failed)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-mb", type=int, default=400)
    parser.add_argument("--refs", type=int, default=20)
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=3, help="runs of each order, alternating")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="relocator-order-"))
    started: list[Registry] = []
    try:
        source = start_registry(work / "source")
        started.append(source)
        corpus = build(args.total_mb * MB, args.refs, args.repos)
        asyncio.run(seed(source.host, corpus))
        refs = [f"{source.host}/{repo}:{tag}" for repo, tag, _, _ in corpus.tags]
        print(f"corpus: {len(refs)} references, {corpus.unique_bytes / MB:.0f} MB unique", file=sys.stderr)
        print("| order | wall s | first image s | median image s | p90 image s | mean finish / wall | "
              "MB/s | ok |")
        print("|---|---|---|---|---|---|---|---|")
        orders: list[Order] = ["size", "image"]
        for i in range(args.pairs * len(orders)):
            order = orders[i % len(orders)]
            dest = start_registry(work / f"dest{i}")
            started.append(dest)
            wall, finished, report = asyncio.run(one_run(order, refs, dest.host))
            print(row(order, wall, finished, report), flush=True)
            dest.stop()
            shutil.rmtree(work / f"dest{i}", ignore_errors=True)
    finally:
        for reg in started:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
