"""``relocator --version``: relocator's version and those of what a bug report needs."""

from __future__ import annotations

import argparse
import os
import sys

from relocator import __version__

__all__ = ["VersionAction", "versions"]


class VersionAction(argparse.Action):
    """``--version``: several lines as written (argparse's own action would re-wrap them)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(versions() + "\n")
        parser.exit()


def versions() -> str:
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
