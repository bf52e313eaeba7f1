"""`relocator ls` output: a table (or JSON) on stdout, the reader's notes on stderr."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from relocator.ui import print_json, print_note

__all__ = ["human_size", "print_listing", "render_listing"]

_COLUMNS = ("NAME", "DIGEST", "MEDIA TYPE", "PLATFORMS", "SIZE")
_REFERRER_COLUMNS = ("REFERRER", "SUBJECT", "ARTIFACT TYPE", "TAG", "SIZE")


def print_listing(rows: Sequence[dict[str, Any]], notes: Sequence[str], *,
                  report: dict[str, Any] | None = None) -> None:
    """Rows as ``ListedEntry.to_json`` gives them as a table on stdout, or ``report`` (the JSON
    report, ui.jsonreport) when given; each note on stderr as ``relocator: note: ...``, so stdout
    stays clean."""
    if report is not None:
        print_json(report)
    else:
        sys.stdout.write(render_listing(rows))
    for note in notes:
        print_note(note)


def render_listing(rows: Sequence[dict[str, Any]]) -> str:
    """An aligned table with a header line; ``-`` for no name and no known platform. Referrers
    (rows with a ``referrer`` object) follow in a second table, after a blank line, giving each
    one's digest, subject, artifactType and cosign tag (``-`` where it has none)."""
    images = [r for r in rows if "referrer" not in r]
    text = _table(_COLUMNS, [(r["name"] or "-", r["digest"], r["mediaType"], _platforms(r),
                              human_size(r["size"])) for r in images])
    referrers = [r for r in rows if "referrer" in r]
    if referrers:
        text += "\n" + _table(_REFERRER_COLUMNS, [
            (r["digest"], r["referrer"]["subject"], r["referrer"]["artifactType"] or "-",
             r["referrer"]["tag"] or "-", human_size(r["size"])) for r in referrers])
    return text


def _table(header: tuple[str, ...], cells: list[tuple[str, ...]]) -> str:
    table = [header, *cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
             for row in table]
    return "".join(line + "\n" for line in lines)


def human_size(n: int) -> str:
    """Decimal units as ``docker images`` prints them: ``512 B``, ``1.5 kB``, ``12.3 MB``."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _platforms(row: dict[str, Any]) -> str:
    """The platforms column: what the entry holds, then what a sparse copy left out."""
    held = ",".join(row["platforms"]) or "-"
    return f"{held} (left out: {','.join(row['left_out'])})" if row.get("left_out") else held
