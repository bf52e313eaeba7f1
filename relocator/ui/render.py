"""Reporters: rich progress on a terminal (ui.live), plain lines for cron, silence for --json.

Exactly one is chosen per run (``choose_reporter``); the engine only emits events. rich is loaded
only when a terminal gets the bars or the summary table, so a run off a terminal, ``--help`` and
a refused input never import it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from relocator.engine.events import Outcome, Report, Reporter
from relocator.engine.target import Target
from relocator.oci import Descriptor

__all__ = ["PlainReporter", "QuietReporter", "blob_line", "choose_reporter", "detail_lines", "held_line",
           "image_line", "in_flight_line", "output_line", "render_summary"]


class QuietReporter:
    """Prints nothing while running (for --json, where the report says it all)."""

    def plan_ready(self, targets: Sequence[Target], blob_bytes: int, blobs: int) -> None:
        """Nothing."""

    def bytes_moved(self, n: int) -> None:
        """Nothing."""

    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None:
        """Nothing."""

    def image_started(self, target: Target) -> None:
        """Nothing."""

    def image_done(self, target: Target, error: str | None) -> None:
        """Nothing."""

    def image_held(self, target: Target) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""


def image_line(target: Target, error: str | None, into: str | None) -> str:
    """The one line a finished or failed image gets, on a terminal and off it."""
    if error is not None:
        return f"FAILED {target.label}: {error}"
    # A subset of an index is written under another digest than the source's: both are shown.
    was = f" (platforms chosen from {target.source_root})" if target.source_root is not None else ""
    if into is not None:
        return f"done {target.label} -> {into} ({target.root}){was}"
    return f"done {target.label} -> {target.destination}{was}"


def held_line(target: Target, into: str | None) -> str:
    """``-v``: an image whose bytes are all in a file that is not finished yet."""
    return f"fetched {target.label} (done once {into or 'the output'} is written)"


def in_flight_line(labels: Sequence[str], width: int) -> str | None:
    """``in flight: app:v1, tool:1.0 +5``: the images under way (each by its last path component),
    as many as fit in ``width`` characters, then how many more; None when there is none."""
    if not labels:
        return None
    names = [label.rsplit("/", 1)[-1] for label in labels]
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        line = "in flight: " + ", ".join([*shown, name]) + (f" +{rest}" if rest else "")
        if shown and len(line) > width:
            break
        shown.append(name)
    more = len(names) - len(shown)
    return "in flight: " + ", ".join(shown) + (f" +{more}" if more else "")


def blob_line(desc: Descriptor, outcome: Outcome) -> str:
    """``-v``: one line per blob placement."""
    return f"blob {desc.digest} {outcome.value} ({desc.size} bytes)"


class PlainReporter(QuietReporter):
    """One line per event worth a line, on stderr: no escape codes, fit for cron mail."""

    def __init__(self, into: str | None = None, *, verbose: int = 0) -> None:
        self.into = into  # a tarball's name: images go there, not to a registry
        self.verbose = verbose

    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None:
        """With ``-v``, a line per blob."""
        if self.verbose:
            sys.stderr.write(blob_line(desc, outcome) + "\n")

    def image_held(self, target: Target) -> None:
        """With ``-v``, an image fetched into a file not yet committed."""
        if self.verbose:
            sys.stderr.write(held_line(target, self.into) + "\n")

    def plan_ready(self, targets: Sequence[Target], blob_bytes: int, blobs: int) -> None:
        """Say what the run will do."""
        sys.stderr.write(f"planned {len(targets)} images, {blobs} blob placements, "
                         f"{blob_bytes / 1e6:.1f} MB of unique blobs\n")

    def image_done(self, target: Target, error: str | None) -> None:
        """Print the image's result."""
        sys.stderr.write(image_line(target, error, self.into) + "\n")


def choose_reporter(json_output: bool, into: str | None = None) -> Reporter:
    """Rich on a terminal, plain lines otherwise (naming the tarball ``into``), silence for
    --json and -q (``ui.verbosity``)."""
    from relocator.ui import verbosity

    level = verbosity()
    if json_output or level < 0:
        return QuietReporter()
    if sys.stderr.isatty():
        from relocator.ui.live import RichReporter

        return RichReporter(into, verbose=level)
    return PlainReporter(into, verbose=level)


def render_summary(report: Report) -> str:
    """The closing summary: images, referrers, blobs by outcome, bytes, seconds, MB/s, every
    failure and, when interrupted, every image that did not finish."""
    b = report.blobs
    unfinished = f", {len(report.unfinished)} not finished (interrupted)" if report.interrupted else ""
    lines = [
        f"images: {len(report.done)} done, {len(report.failed)} failed{unfinished}; "
        f"referrers: {report.referrers} copied; blobs: {b[Outcome.TRANSFERRED]} transferred, "
        f"{b[Outcome.MOUNTED]} mounted, {b[Outcome.SKIPPED]} skipped; "
        f"{report.bytes_moved / 1e6:.1f} MB in {report.seconds:.2f} s ({report.mb_per_s:.1f} MB/s)"
    ]
    lines += detail_lines(report)
    return "\n".join(lines)


def output_line(report: Report) -> str | None:
    """What became of a tarball or layout when images failed: written without them (named), or
    not written; None when every image made it or the destination is a registry."""
    if report.output is None or not report.failed:
        return None
    lost = f"{len(report.failed)} of {len(report.done) + len(report.failed)} images"
    if report.written:
        where = "the tarball to stdout" if report.output == "-" else report.output
        return f"wrote {where} without {lost}: {', '.join(report.without)}"
    if report.output == "-":
        return f"the tar stream on stdout is cut short, not a tarball: {lost} failed"
    return f"did not write {report.output}: {lost} failed"


def detail_lines(report: Report) -> list[str]:
    """A line per failed image, per image an interrupted run did not finish, and per note."""
    lines = [f"failed: {name}: {why}" for name, why in sorted(report.failed.items())]
    line = output_line(report)
    lines += [line] if line is not None else []
    lines += [f"not finished: {name}" for name in report.unfinished if report.interrupted]
    lines += [f"note: {note}" for note in report.notes]
    return lines
