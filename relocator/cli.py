"""The parser assembled from ``commands/``, the event loop, signals, and exceptions mapped to
exit codes.

Exit codes: 0 success, 1 an image, registry or transfer failed, 2 bad input (before any
transfer), 130 interrupted (SIGINT), 143 terminated (SIGTERM): 128 + the signal's number, as a
shell reports a process the signal killed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import uvloop

from relocator import __version__
from relocator.commands import bench, copy, inspect, ls, pkg, relocate, resolve, unpkg, verify
from relocator.commands.args import add_global_flags
from relocator.errors import InputError, RelocatorError
from relocator.ui import print_error

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED", "EXIT_USAGE", "Interrupted",
           "build_parser", "main", "until_signalled"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Each verb's module registers its own arguments and its ``run`` coroutine.
_COMMANDS = (copy, relocate, pkg, unpkg, verify, ls, inspect, resolve, bench)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], default: str = "uvloop") -> T:
    """Run on uvloop or asyncio's own loop: ``default``, unless RELOCATOR_LOOP names one."""
    if os.environ.get("RELOCATOR_LOOP", default) == "asyncio":
        return asyncio.run(coro)
    return uvloop.run(coro)


class Interrupted(Exception):
    """The run stopped on a signal; ``signum`` is the first one received."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


async def until_signalled(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro``; SIGINT and SIGTERM both cancel it, and Interrupted is raised once it has
    wound down (the copying commands let writes under way settle and print what finished).

    A second signal cancels again, cutting the wind-down short, and gives the signals back
    their defaults: a third one stops the process outright.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        if len(received) > 1:
            _restore(loop)
        task.cancel()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await coro
    except asyncio.CancelledError:
        if not received:
            raise
        raise Interrupted(received[0]) from None
    finally:
        _restore(loop)


def _restore(loop: asyncio.AbstractEventLoop) -> None:
    for signum in _STOP_SIGNALS:
        loop.remove_signal_handler(signum)


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    parser = argparse.ArgumentParser(prog="relocator", description="Move container images, fast.")
    parser.add_argument("--version", action="version", version=f"relocator {__version__}")
    add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in _COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``relocator`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="relocator: %(levelname)s: %(message)s")
    try:
        code = run(until_signalled(args.run(args)), getattr(args, "loop", "uvloop"))
    except Interrupted as exc:
        print_error(str(exc))
        code = 128 + exc.signum
    except InputError as exc:
        print_error(str(exc))
        code = EXIT_USAGE
    except RelocatorError as exc:
        print_error(str(exc))
        code = EXIT_FAILED
    except KeyboardInterrupt:  # before the loop ran, or after a third Ctrl-C
        print_error("interrupted")
        code = EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print_error(f"internal error: {exc!r} (run with --debug for the traceback)")
        code = EXIT_FAILED
    sys.exit(code)
