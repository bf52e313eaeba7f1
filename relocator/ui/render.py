"""Reporters: plain lines for logs and cron, JSON for machines; one is chosen per run."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from relocator.events import Outcome, Report
from relocator.oci import Descriptor

if TYPE_CHECKING:
    from relocator.plan import Target

__all__ = ["PlainReporter", "QuietReporter", "render_summary"]


class PlainReporter:
    """One line per finished image on stderr: no escape codes, fit for cron mail."""

    def blob_done(self, desc: Descriptor, outcome: Outcome) -> None:
        """Blobs are summed up at the end, not listed."""

    def image_done(self, target: Target, error: str | None) -> None:
        """Print the image's result."""
        if error is None:
            sys.stderr.write(f"relocated {target.input.text} -> {target.destination}\n")
        else:
            sys.stderr.write(f"FAILED {target.input.text}: {error}\n")


class QuietReporter(PlainReporter):
    """Prints nothing while running (for --json)."""

    def image_done(self, target: Target, error: str | None) -> None:
        """Nothing: the JSON report says it all."""


def render_summary(report: Report) -> str:
    """The closing summary: images, blobs by outcome, bytes, seconds, MB/s, and every failure."""
    b = report.blobs
    lines = [
        f"images: {len(report.done)} relocated, {len(report.failed)} failed; "
        f"blobs: {b[Outcome.TRANSFERRED]} transferred, {b[Outcome.MOUNTED]} mounted, "
        f"{b[Outcome.SKIPPED]} skipped; {report.bytes_moved / 1e6:.1f} MB in {report.seconds:.2f} s "
        f"({report.mb_per_s:.1f} MB/s)"
    ]
    lines += [f"failed: {name}: {why}" for name, why in sorted(report.failed.items())]
    return "\n".join(lines)
