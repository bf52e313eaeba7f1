"""The parser assembled from ``commands/``, the event loop, signals, and exceptions mapped to
exit codes.

Exit codes: 0 success, 1 an image, registry or transfer failed, 2 bad input (before any
transfer), 130 interrupted (SIGINT), 143 terminated (SIGTERM), 141 stdout's reader went away
(``| head``: SIGPIPE): 128 + the signal's number, as a shell reports a process the signal killed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import select
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn, TypeVar

from relocator.commands.signals import Interrupted, until_signalled
from relocator.errors import InputError, RelocatorError
from relocator.ui import print_error, set_verbosity
from relocator.ui.versions import VersionAction, versions

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_OUTPUT_GONE", "EXIT_TERMINATED", "EXIT_USAGE",
           "Interrupted", "build_parser", "main", "until_signalled"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
EXIT_OUTPUT_GONE = 128 + signal.SIGPIPE

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], default: str = "uvloop") -> T:
    """Run on uvloop or asyncio's own loop: ``default``, unless RELOCATOR_LOOP names one."""
    if os.environ.get("RELOCATOR_LOOP", default) == "asyncio":
        return asyncio.run(coro)
    import uvloop  # here, not at the top: --version and usage errors never start a loop

    return uvloop.run(coro)


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors in relocator's one-line form (``relocator: error: VERB: ...``)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        verb = self.prog.removeprefix("relocator").strip()
        print_error(f"{verb}: {message}" if verb else message)
        sys.exit(EXIT_USAGE)


class _VerbParser(_Parser):
    """A verb's parser refuses arguments it does not know itself, so the error comes with the
    verb's usage. (argparse would hand them back to the top-level parser, whose error shows the
    top-level usage: a verb's parser is run through ``parse_known_args``.)"""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar; a usage error exits 2 with the failing verb's usage.

    Each verb's module registers its own arguments and its ``run`` coroutine. They are imported
    here, not at the top, so ``--version`` answers without loading aiohttp and the rest.
    """
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

    parser = _Parser(prog="relocator", description="Move container images, fast.")
    parser.add_argument("--version", action=VersionAction, nargs=0, help="print versions and exit")
    add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_VerbParser)
    for command in (copy, relocate, sync, pkg, unpkg, verify, ls, inspect, resolve, bench, completion):
        command.register(sub)
    parser.set_defaults(root_parser=parser)  # for `completion`, which describes the whole grammar
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``relocator`` console script."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, where a reader that went away can still be told apart
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        code = _output_gone()
    sys.exit(code)


def _main(argv: Sequence[str] | None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:  # the fast path: no parser
        sys.stdout.write(versions() + "\n")
        return EXIT_OK
    args = build_parser().parse_args(argv)
    if args.quiet and args.verbose:
        build_parser().error("-q and -v contradict each other")
    set_verbosity(-1 if args.quiet else args.verbose)
    level = logging.ERROR if args.quiet else logging.DEBUG if args.debug or args.verbose >= 2 else (
        logging.WARNING)
    logging.basicConfig(level=level, format="relocator: %(levelname)s: %(message)s")
    try:
        code: int = run(until_signalled(args.run(args)), getattr(args, "loop", "uvloop"))
        return code
    except Interrupted as exc:
        print_error(str(exc))
        return 128 + exc.signum
    except InputError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    except RelocatorError as exc:
        print_error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:  # before the loop ran, or after a third Ctrl-C
        print_error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            raise  # `relocator ls X | head`: not a bug, see main
        if args.debug:
            raise
        print_error(f"internal error: {exc!r} (run with --debug for the traceback)")
        return EXIT_FAILED


def _stdout_gone() -> bool:
    """True when stdout is a pipe whose reader has closed it (poll says POLLERR on its write end):
    the one BrokenPipeError that is the user's doing, not a credential helper's pipe or a bug."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def _output_gone() -> int:
    """``| head`` took what it wanted: stop quietly with the status a shell gives a process that
    SIGPIPE killed (Python ignores the signal, so the write failed instead), and point stdout at
    /dev/null so the interpreter's own flush at exit does not fail again (Python's documented
    recipe, library/signal.html "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OUTPUT_GONE
