"""The one report every command prints with ``--json``: schema ``relocator.report/v1``.

relocator/ui/report.schema.json (JSON Schema 2020-12, shipped with the package) is the contract and
tests/commands/test_json_schema.py checks every command's report against it. The shape::

    {"schema": "relocator.report/v1", "command": VERB, "dry_run": bool,
     "images": [IMAGE, ...],
     "counts": {"images": int, "outcomes": {OUTCOME: int}, "blobs": {KIND: int}, "referrers": int},
     "throughput": {"bytes": int, "seconds": float, "mb_per_s": float},
     "output": null | {"path": str, "written": bool, "without": [label, ...]},
     "interrupted": bool, "notes": [str, ...], "details": {...}}

IMAGE is the same seven keys for every command, each a string or null (``outcome`` always a
string): ``reference`` (as the user wrote it), ``source_digest``, ``destination`` (repository and
tag, no digest), ``destination_digest`` (what the destination holds after the run; it differs from
``source_digest`` where the written manifest is not the source's), ``destination_digest_before``
(what it held before, where the command looked: sync), ``outcome``, ``error``. ``details`` holds
what only one command has (inspect's tree, ls's entries, bench's phases), described per command in
the schema. A new key is a compatible change; renaming or removing one bumps the version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from relocator.engine.events import Report
from relocator.oci import Digest, Reference

__all__ = ["SCHEMA", "copy_images", "copy_report", "image_record", "report_json"]

SCHEMA = "relocator.report/v1"

# A copying verb's outcomes: done, failed, or never through (an interrupted run); a dry run's
# images that would be copied are "planned".
COPIED, PLANNED, FAILED, NOT_FINISHED = "copied", "planned", "failed", "not finished"


def image_record(reference: str | None, outcome: str, *, source_digest: Digest | str | None = None,
                 destination: Reference | str | None = None,
                 destination_digest: Digest | str | None = None,
                 destination_digest_before: Digest | str | None = None,
                 error: str | None = None) -> dict[str, Any]:
    """One image's record: the seven keys of the module docstring, values as strings or None."""
    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return {"reference": reference, "source_digest": text(source_digest), "destination": text(destination),
            "destination_digest": text(destination_digest),
            "destination_digest_before": text(destination_digest_before), "outcome": outcome,
            "error": error}


def report_json(command: str, images: Iterable[dict[str, Any]], *, dry_run: bool = False,
                blobs: Mapping[str, int] | None = None, referrers: int = 0, moved: int = 0,
                seconds: float = 0.0, output: Mapping[str, Any] | None = None,
                interrupted: bool = False, notes: Iterable[str] = (),
                details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole report for ``command``: ``images`` are ``image_record`` dicts (counted by
    outcome), ``blobs`` counts by kind, ``moved`` bytes in ``seconds`` (MB/s derived, 10^6)."""
    records = list(images)
    outcomes = Counter(r["outcome"] for r in records)
    return {
        "schema": SCHEMA,
        "command": command,
        "dry_run": dry_run,
        "images": records,
        "counts": {"images": len(records), "outcomes": dict(sorted(outcomes.items())),
                   "blobs": dict(blobs or {}), "referrers": referrers},
        "throughput": {"bytes": moved, "seconds": round(seconds, 3),
                       "mb_per_s": round(moved / 1e6 / seconds, 2) if seconds > 0 else 0.0},
        "output": None if output is None else dict(output),
        "interrupted": interrupted,
        "notes": list(notes),
        "details": dict(details or {}),
    }


def copy_images(report: Report, *, dry_run: bool = False) -> list[dict[str, Any]]:
    """A record per image the engine was asked for, in the order asked: copied (a dry run:
    planned), failed with its reason, or not finished (interrupted)."""
    records = []
    for label in dict.fromkeys([*report.images, *report.done, *report.failed]):
        target = report.targets.get(label)
        done = report.done.get(label)
        outcome = (PLANNED if dry_run else COPIED) if done is not None else (
            FAILED if label in report.failed else NOT_FINISHED)
        destination = None if target is None else Reference(target.destination.repository,
                                                            target.destination.tag)
        records.append(image_record(
            label, outcome, source_digest=None if target is None else target.source.digest or target.root,
            destination=destination, destination_digest=None if done is None else done.digest,
            error=report.failed.get(label)))
    return records


def copy_report(command: str, report: Report, *, dry_run: bool = False,
                details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``report_json`` for a copying verb (relocate, copy, pkg, unpkg) from the engine's Report:
    blobs transferred, mounted and skipped, referrers copied, bytes transferred, and the tarball or
    layout (``output``) whether and where it was written and without which images."""
    output = None if report.output is None else {
        "path": report.output, "written": report.written, "without": report.without}
    return report_json(command, copy_images(report, dry_run=dry_run), dry_run=dry_run,
                       blobs={o.value: n for o, n in report.blobs.items()}, referrers=report.referrers,
                       moved=report.bytes_moved, seconds=report.seconds, output=output,
                       interrupted=report.interrupted, notes=report.notes, details=details)
