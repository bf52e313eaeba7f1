"""The parser assembled from ``commands/``, the event loop, and exceptions mapped to exit codes.

Exit codes: 0 success, 1 an image, registry or transfer failed, 2 bad input (before any
transfer), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import uvloop

from relocator import __version__
from relocator.commands import (
    bench,
    completion,
    copy,
    inspect,
    ls,
    pkg,
    relocate,
    resolve,
    sync,
    unpkg,
    verify,
)
from relocator.commands.args import add_global_flags
from relocator.errors import InputError, RelocatorError
from relocator.ui import print_error, set_verbosity

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Each verb's module registers its own arguments and its ``run`` coroutine.
_COMMANDS = (copy, relocate, sync, pkg, unpkg, verify, ls, inspect, resolve, bench, completion)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], default: str = "uvloop") -> T:
    """Run on uvloop or asyncio's own loop: ``default``, unless RELOCATOR_LOOP names one."""
    if os.environ.get("RELOCATOR_LOOP", default) == "asyncio":
        return asyncio.run(coro)
    return uvloop.run(coro)


class _Version(argparse.Action):
    """``--version``: several lines as written (argparse's own action would re-wrap them)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(_versions() + "\n")
        parser.exit()


def _versions() -> str:
    """relocator's version and those of what a bug report needs: Python, aiohttp, the loop.
    Read from package metadata, so printing it imports neither aiohttp nor uvloop."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    loop = os.environ.get("RELOCATOR_LOOP", "uvloop")
    return (f"relocator {__version__}\nPython {sys.version.split()[0]} ({sys.implementation.name})\n"
            f"aiohttp {of('aiohttp')}\nevent loop: {loop}"
            + (f" {of('uvloop')}" if loop != "asyncio" else "'s own (RELOCATOR_LOOP=asyncio)"))


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = argparse.ArgumentParser(prog="relocator", description="Move container images, fast.")
    parser.add_argument("--version", action=_Version, nargs=0, help="print versions and exit")
    add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.register(sub)
    parser.set_defaults(root_parser=parser)  # for `completion`, which describes the whole grammar
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``relocator`` console script."""
    args = build_parser().parse_args(argv)
    if args.quiet and args.verbose:
        build_parser().error("-q and -v contradict each other")
    set_verbosity(-1 if args.quiet else args.verbose)
    level = logging.ERROR if args.quiet else logging.DEBUG if args.debug or args.verbose >= 2 else (
        logging.WARNING)
    logging.basicConfig(level=level, format="relocator: %(levelname)s: %(message)s")
    try:
        code = run(args.run(args), getattr(args, "loop", "uvloop"))
    except InputError as exc:
        print_error(str(exc))
        code = EXIT_USAGE
    except RelocatorError as exc:
        print_error(str(exc))
        code = EXIT_FAILED
    except KeyboardInterrupt:
        print_error("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print_error(f"internal error: {exc!r} (run with --debug for the traceback)")
        code = EXIT_FAILED
    sys.exit(code)
