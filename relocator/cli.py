"""The argparse tree, kbld spellings, Settings from flags, uvloop, and exit codes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from relocator import __version__
from relocator.commands.bench import BenchOptions, bench, validate
from relocator.commands.inspect import inspect
from relocator.commands.ls import ls
from relocator.commands.pkg import PkgOptions, pkg
from relocator.commands.relocate import RelocateOptions, describe_plan, relocate
from relocator.commands.resolve import ResolveError, ResolveOptions, resolve
from relocator.commands.unpkg import UnpkgOptions, unpkg
from relocator.commands.verify import verify
from relocator.config import Limits, Settings, TLSSettings
from relocator.engine.events import Report
from relocator.errors import InputError, RelocatorError
from relocator.frontends.inputs import ImageInput, collect_inputs, shard
from relocator.stores.files import write_atomic
from relocator.ui import print_error, print_json, print_plan, print_raw, print_report, print_text
from relocator.ui.bench import check_plot, render_chart, render_csv, render_table, save_plot
from relocator.ui.listing import print_listing
from relocator.ui.render import QuietReporter, choose_reporter

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], default: str = "uvloop") -> T:
    """Run on uvloop or asyncio's own loop: ``default``, unless RELOCATOR_LOOP names one."""
    if os.environ.get("RELOCATOR_LOOP", default) == "asyncio":
        return asyncio.run(coro)
    return uvloop.run(coro)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _add_input_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--file", action="append", default=[], metavar="FILE",
                        help="YAML with image: keys, a kbld lock file, or a reference list ('-' is stdin)")
    parser.add_argument("-i", "--image", action="append", default=[], metavar="REF", help="one image")


def _shard(text: str) -> tuple[int, int]:
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
        raise argparse.ArgumentTypeError(f"expected I/N with 0 <= I < N, got {text!r}")
    return int(index), int(count)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,N,..., got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected N or N,N,..., got {text!r}")
    return values


def _add_registry_flags(parser: argparse.ArgumentParser, *, concurrency: bool = True) -> None:
    group = parser.add_argument_group("registry access")
    group.add_argument("--registry-ca-cert-path", action="append", default=[], metavar="FILE",
                       help="trust this CA certificate too (repeatable)")
    group.add_argument("--registry-verify-certs", type=_bool, default=True, metavar="BOOL",
                       help="verify TLS certificates (default true)")
    group.add_argument("--registry-insecure", action="append", default=[], metavar="HOST",
                       help="allow plain HTTP to this host (repeatable; loopback always may)")
    if concurrency:
        group.add_argument("--concurrency", type=int, default=16, help="transfers at once per registry")


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = argparse.ArgumentParser(prog="relocator", description="Move container images, fast.")
    parser.add_argument("--version", action="version", version=f"relocator {__version__}")
    parser.add_argument("--debug", action="store_true", help="log every request")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="show the digest and children of an image reference")
    p.add_argument("reference")
    p.add_argument("--json", action="store_true", help="print JSON")
    _add_registry_flags(p)

    p = sub.add_parser("resolve", help="pin image references in YAML to digests (kbld compatible)")
    p.add_argument("-f", "--file", action="append", required=True, metavar="FILE|DIR|-",
                   help="YAML file, directory (recursive .yml/.yaml) or '-' for stdin; repeatable")
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--imgpkg-lock-output", type=Path, metavar="FILE", help="write an imgpkg ImagesLock")
    p.add_argument("--images-annotation", action="store_true",
                   help="annotate resources with kbld.k14s.io/images")
    _add_registry_flags(p)

    p = sub.add_parser("bench", help="measure a registry's push, pull, HEAD, mount and manifest speed")
    p.add_argument("repository", metavar="HOST/REPO")
    p.add_argument("--blob-size", type=_size, action="append", metavar="SIZE",
                   help="blob size such as 16MiB (repeatable; default 16MiB)")
    p.add_argument("--count", type=int, default=16, help="blobs per measurement (default 16)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="size the count to last this long")
    p.add_argument("--concurrency", type=_int_list, default=[8], metavar="N[,N...]",
                   help="one value or a sweep such as 1,4,16,64 (default 8)")
    p.add_argument("--upload", choices=("monolithic", "chunked"), default="monolithic")
    p.add_argument("--chunk-size", type=_size, default=5 * 1024 * 1024, metavar="SIZE")
    p.add_argument("--warmup", type=int, default=2, help="blobs pushed first, not measured")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="MB/s against concurrency (matplotlib)")
    p.add_argument("--keep", action="store_true", help="leave the blobs in the registry")
    _add_registry_flags(p, concurrency=False)

    p = sub.add_parser("pkg", aliases=["package"], help="export images into one OCI-layout tarball")
    _add_input_flags(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.tar", help="the tarball ('-' is stdout)")
    p.add_argument("--spool-dir", type=Path, metavar="DIR",
                   help="with -o -: where finished blobs wait for the writer (default: the temp dir)")
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--include-non-distributable-layers", action="store_true")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    _add_registry_flags(p)

    p = sub.add_parser("unpkg", aliases=["unpackage"], help="import a tarball or OCI layout into a registry")
    p.add_argument("-i", "--input", required=True, type=Path, metavar="FILE.tar|DIR")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--repository", metavar="HOST/REPO", help="every image into this repository")
    dest.add_argument("--prefix", metavar="HOST[/PATH]", help="restore repository paths and tags under this")
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--chunk-size", type=_size, metavar="BYTES", help="upload in chunks of this size")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    _add_registry_flags(p)

    p = sub.add_parser("verify", help="check a tarball: digests, sizes, children, index.json")
    p.add_argument("tarball", type=Path, metavar="FILE.tar|DIR")

    p = sub.add_parser("ls", help="list a tarball or layout: OCI, Docker archive, Carvel, .tar.gz")
    p.add_argument("path", type=Path, metavar="FILE|DIR")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("relocate", help="copy images to another registry, same digests")
    _add_input_flags(p)
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--repository", metavar="HOST/REPO", help="every image into this repository")
    dest.add_argument("--prefix", metavar="HOST[/PATH]", help="mirror: keep paths and tags under this")
    p.add_argument("--lock-output", type=Path, metavar="FILE", help="write a kbld lock file")
    p.add_argument("--chunk-size", type=_size, metavar="BYTES", help="upload in chunks of this size")
    p.add_argument("--include-non-distributable-layers", action="store_true")
    p.add_argument("--tag-for-gc", action="store_true",
                   help="with --repository: tag each image sha256-<hex>.relocated so GC keeps it")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing image")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="relocate only shard I of N (0-based), for splitting a mirror across workers")
    p.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    _add_registry_flags(p)
    return parser


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = units.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in units else t
    if not number.isdigit() or int(number) * mult <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}")
    return int(number) * mult


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from parsed flags."""
    given = getattr(args, "concurrency", 16)
    concurrency = given if isinstance(given, int) else max(given)
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {concurrency}")
    chunk = getattr(args, "chunk_size", None) if args.command in ("relocate", "unpkg", "unpackage") else None
    return Settings(
        limits=Limits(concurrency=concurrency, chunk_size=chunk),
        tls=TLSSettings(
            ca_cert_paths=tuple(Path(p) for p in getattr(args, "registry_ca_cert_path", [])),
            verify=getattr(args, "registry_verify_certs", True),
            insecure_registries=frozenset(getattr(args, "registry_insecure", [])),
        ),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``relocator`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="relocator: %(levelname)s: %(message)s")
    try:
        settings = settings_from(args)
        if args.command == "inspect":
            info = run(inspect(settings, args.reference))
            if args.json:
                print_json(info)
            else:
                print_text(f"{info['reference']}\t{info['digest']}\t{info['mediaType']}")
                for child in info["children"]:
                    print_text(f"  {child['digest']}\t{child['size']}\t{child['mediaType']}")
        elif args.command == "resolve":
            options = ResolveOptions(lock_output=args.lock_output,
                                     imgpkg_lock_output=args.imgpkg_lock_output,
                                     images_annotation=args.images_annotation)
            print_raw(run(resolve(settings, args.file, options)))
        elif args.command in ("pkg", "package"):
            sys.exit(_pkg(args, settings))
        elif args.command in ("unpkg", "unpackage"):
            sys.exit(_unpkg(args, settings))
        elif args.command == "verify":
            sys.exit(_verify(args))
        elif args.command == "ls":
            sys.exit(_ls(args))
        elif args.command == "bench":
            sys.exit(_bench(args, settings))
        elif args.command == "relocate":
            sys.exit(_relocate(args, settings))
    except InputError as exc:
        print_error(str(exc))
        sys.exit(EXIT_USAGE)
    except ResolveError as exc:
        for line in str(exc).splitlines():
            print_error(line)
        sys.exit(EXIT_FAILED)
    except RelocatorError as exc:
        print_error(str(exc))
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
    except Exception as exc:
        if args.debug:
            raise
        print_error(f"internal error: {exc!r} (run with --debug for the traceback)")
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_OK)


def _inputs(args: argparse.Namespace) -> list[ImageInput]:
    inputs = collect_inputs(args.file, args.image)
    if not inputs:
        raise InputError("no image references given: use -f FILE or -i REF")
    return inputs


def _relocate(args: argparse.Namespace, settings: Settings) -> int:
    inputs = _inputs(args)
    if args.shard is not None:
        inputs = shard(inputs, *args.shard)
    options = RelocateOptions(repository=args.repository, prefix=args.prefix,
                              lock_output=args.lock_output,
                              include_non_distributable=args.include_non_distributable_layers,
                              tag_for_gc=args.tag_for_gc, fail_fast=args.fail_fast, dry_run=args.dry_run)
    reporter = choose_reporter(args.json)
    if args.dry_run:
        summary = run(_dry_run(settings, inputs, options))
        if args.json:
            print_json(summary)
        else:
            print_plan(summary)
        return EXIT_FAILED if summary["failed"] else EXIT_OK
    _, report = run(relocate(settings, inputs, options, reporter))
    return _finish(report, args.json)


def _finish(report: Report, as_json: bool, to_stderr: bool = False) -> int:
    if as_json:
        print_json(report.to_json(), stderr=to_stderr)
    else:
        print_report(report, stderr=to_stderr)
    return EXIT_FAILED if report.failed else EXIT_OK


def _pkg(args: argparse.Namespace, settings: Settings) -> int:
    inputs = _inputs(args)
    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty():
        raise InputError("-o -: refusing to write a tarball to a terminal")
    options = PkgOptions(output=args.output, spool_dir=args.spool_dir, lock_output=args.lock_output,
                         include_non_distributable=args.include_non_distributable_layers)
    # pkg is bound by downloads, which aiohttp reads faster on asyncio's loop (benchmarks/README.md:
    # 2.21-2.23 s against 2.26-2.83 s on uvloop for the 1 GB corpus).
    into = "stdout" if to_stdout else args.output
    _, report = run(pkg(settings, inputs, options, choose_reporter(args.json, into)), default="asyncio")
    return _finish(report, args.json, to_stderr=to_stdout)


def _unpkg(args: argparse.Namespace, settings: Settings) -> int:
    options = UnpkgOptions(input=args.input, repository=args.repository, prefix=args.prefix,
                           lock_output=args.lock_output)
    _, report = run(unpkg(settings, options, choose_reporter(args.json)))
    return _finish(report, args.json)


def _verify(args: argparse.Namespace) -> int:
    result = run(verify(args.tarball))
    for problem in result.problems:
        print_text(problem)
    if result.problems:
        return EXIT_FAILED
    print_text(f"{args.tarball}: ok: {result.references} references, {result.manifests} manifests, "
               f"{result.blobs} blobs verified")
    return EXIT_OK


def _ls(args: argparse.Namespace) -> int:
    listing = run(ls(args.path))
    print_listing([e.to_json() for e in listing.entries], listing.notes, as_json=args.json)
    return EXIT_OK


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    options = BenchOptions(repository=args.repository, blob_sizes=tuple(args.blob_size or [16 << 20]),
                           count=args.count, duration=args.duration, concurrency=tuple(args.concurrency),
                           upload=args.upload, chunk_size=args.chunk_size, warmup=args.warmup,
                           keep=args.keep)
    validate(options)
    if args.plot is not None:
        check_plot()
    # Measured here (16 MiB blobs, 4 at once, loopback): aiohttp pulls at 600-640 MB/s on uvloop
    # and 860-960 MB/s on asyncio's loop; a benchmark must not make the client the bottleneck.
    report = run(bench(settings, options), default="asyncio")
    if args.json:
        print_json({"results": [r.to_json() for r in report.results], "notes": report.notes,
                    "kept": [d.to_json() for d in report.kept]})
    else:
        render_table(report.results)
        chart = render_chart(report.results)
        if chart:
            print_text(chart)
        for note in report.notes:
            print_text(note)
    if args.csv is not None:
        write_atomic(args.csv, render_csv(report.results))
    if args.plot is not None:
        save_plot(report.results, args.plot)
    return EXIT_FAILED if any(r.errors for r in report.results) else EXIT_OK


async def _dry_run(settings: Settings, inputs: list[ImageInput],
                   options: RelocateOptions) -> dict[str, Any]:
    plan, _ = await relocate(settings, inputs, options, QuietReporter())
    return await describe_plan(settings, plan)
