"""What the copying verbs share at the edges: their inputs, and the closing report and exit code."""

from __future__ import annotations

import argparse

from relocator.engine.events import Report
from relocator.engine.target import ImageInput
from relocator.errors import InputError
from relocator.frontends.inputs import collect_inputs
from relocator.ui import print_error, print_json, print_report

__all__ = ["finish", "inputs_or_refuse"]


def inputs_or_refuse(args: argparse.Namespace) -> list[ImageInput]:
    """Every reference from ``-f`` and ``-i``; raises InputError when there is none."""
    inputs = collect_inputs(args.file, args.image)
    if not inputs:
        raise InputError("no image references given: use -f FILE or -i REF")
    return inputs


def finish(report: Report, as_json: bool, to_stderr: bool = False) -> int:
    """Print the summary (or the JSON report) and return the exit code: 2 (bad input, with one
    ``relocator: error:`` line naming it) if an image failed for the input's fault, such as a
    tarball member whose bytes do not match its digest; else 1 if any image failed."""
    if as_json:
        print_json(report.to_json(), stderr=to_stderr)
    else:
        print_report(report, stderr=to_stderr)
    if report.bad_input:
        print_error(report.failed[min(report.bad_input)])
        return 2
    return 1 if report.failed else 0
