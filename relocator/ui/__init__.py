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


def print_plan(summary: dict[str, Any]) -> None:
    """A dry run's plan for humans."""
    for image in summary["images"]:
        print_text(f"{image['image']} -> {image['destination']}")
    for name, why in summary["failed"].items():
        print_text(f"cannot plan {name}: {why}")
    for note in summary.get("notes", []):
        print_note(note)
    print_text(f"{len(summary['images'])} images, {summary.get('referrers', 0)} referrers, "
               f"{summary['manifests']} manifests, "
               f"{summary['unique_blobs']} unique blobs; {summary['bytes_to_move'] / 1e6:.1f} MB to move, "
               f"{summary['bytes_present'] / 1e6:.1f} MB already present, {summary['mounts']} mounts")
