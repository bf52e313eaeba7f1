"""Everything that writes to the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from relocator.engine.events import Report

__all__ = ["print_error", "print_json", "print_note", "print_plan", "print_raw", "print_report", "print_text",
           "set_verbosity", "verbosity"]


def print_json(data: Any, *, stderr: bool = False) -> None:
    """Machine-readable output on stdout (stderr when stdout carries a tarball)."""
    (sys.stderr if stderr else sys.stdout).write(json.dumps(data, indent=2) + "\n")


def print_raw(text: str) -> None:
    """Text exactly as given on stdout (YAML output)."""
    sys.stdout.write(text)


def print_text(text: str) -> None:
    """A line for humans on stdout."""
    sys.stdout.write(text + "\n")


def print_error(text: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    sys.stderr.write(f"relocator: error: {text}\n")


_verbosity = 0


def set_verbosity(level: int) -> None:
    """-1 for ``-q`` (errors and the summary only), 0 by default, 1 for ``-v``, 2 for ``-vv``."""
    global _verbosity
    _verbosity = level


def verbosity() -> int:
    """The level ``set_verbosity`` chose."""
    return _verbosity


def print_note(text: str) -> None:
    """Something the user should know that is not an error, one line on stderr (not with -q)."""
    if _verbosity >= 0:
        sys.stderr.write(f"relocator: note: {text}\n")


def print_report(report: Report, *, stderr: bool = False) -> None:
    """The closing summary: a table on a terminal, plain lines otherwise."""
    from relocator.ui.render import detail_lines, render_summary

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        from rich.console import Console

        from relocator.ui.live import summary_table

        console = Console(stderr=stderr)
        console.print(summary_table(report))
        for line in detail_lines(report):
            console.print(line, markup=False, highlight=False)
    else:
        stream.write(render_summary(report) + "\n")


def print_plan(report: dict[str, Any]) -> None:
    """A dry run's plan for humans, from its JSON report (ui.jsonreport)."""
    for image in report["images"]:
        if image["outcome"] == "failed":
            print_text(f"cannot plan {image['reference']}: {image['error']}")
        else:
            # The digest written: a platform selection's own, not the source index's.
            written = image["destination_digest"] or image["source_digest"]
            print_text(f"{image['reference']} -> {image['destination']}@{written}")
    for note in report["notes"]:
        print_note(note)
    counts, details, moved = report["counts"], report["details"], report["throughput"]["bytes"]
    print_text(f"{counts['outcomes'].get('planned', 0)} images, {counts['referrers']} referrers, "
               f"{details['manifests']} manifests, {details['unique_blobs']} unique blobs; "
               f"{moved / 1e6:.1f} MB to move, {details['bytes_present'] / 1e6:.1f} MB already present, "
               f"{counts['blobs']['mounted']} mounts")
