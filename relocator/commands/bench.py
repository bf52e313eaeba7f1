"""`relocator bench HOST/REPO`: a registry's push, pull, HEAD, mount, copy and manifest throughput,
under the names zot's ``zb`` gives the scenarios they share (commands.scenarios)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from relocator.auth.credentials import ANY_HOST
from relocator.commands.args import add_global_flags, add_registry_flags, int_list, settings_from
from relocator.commands.args import size as parse_size
from relocator.commands.benchoptions import BenchOptions, validate
from relocator.commands.credentials import credential_store
from relocator.stores.files import write_atomic
from relocator.ui import print_json, print_text
from relocator.ui.bench import check_plot, render_chart, render_csv, render_table, save_plot
from relocator.ui.jsonreport import report_json

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``bench HOST/REPO [--blob-size S] [--count N | --duration S] [--concurrency N,N] [--mixed]
    [--copy-to HOST/REPO] ...``."""
    p = sub.add_parser("bench", help="measure a registry's push, pull, HEAD, mount and manifest speed")
    p.add_argument("repository", metavar="HOST/REPO")
    p.add_argument("--blob-size", type=parse_size, action="append", metavar="SIZE",
                   help="blob size such as 1MiB (repeatable; default 10MiB, zb's 10MB)")
    p.add_argument("--count", type=int, default=16, help="blobs per measurement (default 16)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="size the count to last this long")
    p.add_argument("--concurrency", type=int_list, default=[8], metavar="N[,N...]",
                   help="one value or a sweep such as 1,4,16,64 (default 8)")
    p.add_argument("--upload", choices=("monolithic", "chunked"), default="monolithic")
    p.add_argument("--chunk-size", type=parse_size, metavar="SIZE",
                   help="PATCH size of --upload chunked (default: the whole blob in one PATCH, as zb does)")
    p.add_argument("--mixed", action="store_true",
                   help="also zb's mixed batches of 1, 10 and 100 MiB blobs (push, then pull)")
    p.add_argument("--copy-to", metavar="HOST/REPO",
                   help="where the copy phase writes (default: REPO-bench-copy on the same registry)")
    p.add_argument("--warmup", type=int, default=2, help="blobs pushed first, not measured")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="MB/s against concurrency (matplotlib)")
    p.add_argument("--keep", action="store_true", help="leave the blobs and manifests in the registry")
    add_registry_flags(p, concurrency=False)
    add_global_flags(p, top=False)
    # Measured here (16 MiB blobs, 4 at once, loopback): aiohttp pulls at 600-640 MB/s on uvloop
    # and 860-960 MB/s on asyncio's loop; a benchmark must not make the client the bottleneck.
    p.set_defaults(run=run, loop="asyncio")


async def run(args: argparse.Namespace) -> int:
    """Measure, print the table (or JSON), write CSV and plot if asked; exit 1 if any request failed.
    Interrupted, the phases that finished are printed (``interrupted`` in the JSON) after the
    clean-up, then CancelledError goes on to cli.py, which exits 130 or 143."""
    options = BenchOptions(repository=args.repository, blob_sizes=tuple(args.blob_size or [10 << 20]),
                           count=args.count, duration=args.duration, concurrency=tuple(args.concurrency),
                           upload=args.upload, chunk_size=args.chunk_size, warmup=args.warmup,
                           keep=args.keep, mixed=args.mixed, copy_to=args.copy_to,
                           credentials=credential_store(args, sources=(), destinations=[ANY_HOST]))
    validate(options)
    if args.plot is not None:
        check_plot()
    # Here, after the checks: the measurements load the registry client (aiohttp), which
    # building the parser and refusing bad input must not (tests/test_startup.py).
    from relocator.commands.measure import bench

    report = await bench(settings_from(args), options)
    if args.json:  # no image: the phases are the details, their bytes and seconds the throughput
        print_json(report_json("bench", [], moved=sum(r.bytes for r in report.results),
                               seconds=sum(r.seconds for r in report.results), notes=report.notes,
                               interrupted=report.interrupted,
                               details={"results": [r.to_json() for r in report.results],
                                        "kept": [d.to_json() for d in report.kept],
                                        "repositories": report.repositories}))
    else:
        render_table(report.results)
        chart = render_chart(report.results)
        if chart:
            print_text(chart)
        for note in report.notes:
            print_text(note)
    if args.csv is not None:
        write_atomic(args.csv, render_csv(report.results))
    if args.plot is not None and report.results:
        save_plot(report.results, args.plot)
    if report.interrupted:
        raise asyncio.CancelledError  # commands.signals turns it into Interrupted: exit 130 or 143
    return 1 if any(r.errors for r in report.results) else 0
