"""What the copying verbs share at the edges: their inputs, and the closing report and exit code."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable

from relocator.engine.events import Report
from relocator.errors import InputError
from relocator.frontends.inputs import Inputs, read_inputs
from relocator.ui import print_error, print_json, print_report
from relocator.ui.jsonreport import copy_report

__all__ = ["finish", "finish_after", "inputs_or_refuse"]


def inputs_or_refuse(args: argparse.Namespace) -> Inputs:
    """Every reference from ``-f`` and ``-i`` (and what a lock said of where each came from);
    raises InputError when there is none."""
    inputs = read_inputs(args.file, args.image)
    if not inputs.images:
        raise InputError("no image references given: use -f FILE or -i REF")
    return inputs


def finish(command: str, report: Report, as_json: bool, to_stderr: bool = False) -> int:
    """Print the summary (or ``command``'s JSON report, ui.jsonreport) and return the exit code:
    2 (bad input, with one ``relocator: error:`` line naming it) if an image failed for the
    input's fault, such as a tarball member whose bytes do not match its digest; else 1 if any
    image failed."""
    if as_json:
        print_json(copy_report(command, report), stderr=to_stderr)
    else:
        print_report(report, stderr=to_stderr)
    if report.bad_input:
        print_error(report.failed[min(report.bad_input)])
        return 2
    return 1 if report.failed else 0


async def finish_after(command: str, work: Awaitable[object], report: Report, as_json: bool,
                       to_stderr: bool = False) -> int:
    """Await ``work`` (a copy filling ``report``), then ``finish``. Interrupted (SIGINT, SIGTERM),
    the summary of what finished and what did not is printed all the same, then CancelledError
    goes on to cli.py, which exits 130 or 143."""
    try:
        await work
    except asyncio.CancelledError:
        finish(command, report, as_json, to_stderr)
        raise
    return finish(command, report, as_json, to_stderr)
