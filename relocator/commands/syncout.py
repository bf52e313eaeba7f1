"""What `relocator sync` prints and writes: the per-tag results (``--results``, ``--json``), the
summary, and ``--list-tags``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from relocator.engine.events import Outcome, Report
from relocator.errors import InputError, RelocatorError
from relocator.frontends.syncconfig import SyncConfig, SyncEntry
from relocator.frontends.syncdiff import Action, TagState, expand, kept_tags
from relocator.oci import Reference
from relocator.ui import print_json, print_report, print_text
from relocator.ui.jsonreport import report_json

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["labels", "list_tags", "print_summary", "result_rows"]


def labels(states: list[TagState]) -> Callable[[TagState], str]:
    """Each tag's label in the engine's report: ``SRC:TAG``, or ``SRC:TAG -> DST:TAG`` when that
    source tag goes to several targets in this run (each pair is then an image of its own)."""
    sources = Counter(s.source for s in states)

    def label(s: TagState) -> str:
        if sources[s.source] < 2:
            return str(s.source)
        return f"{s.source} -> {Reference(s.target.repository, s.target.tag)}"

    return label


_DONE = {Action.ADD: "added", Action.UPDATE: "updated"}
_NAMED = ("kept", "failed", "not finished")  # outcomes printed one line each


def result_rows(states: list[TagState], report: Report, label: Callable[[TagState], str], *,
                dry_run: bool) -> list[dict[str, Any]]:
    """One result per tag, an image record of the JSON report (ui.jsonreport) and a line of
    ``--results``: ``reference`` (the source tag), ``source_digest``, ``destination``,
    ``destination_digest_before`` (the target's digest the diff saw, null when absent),
    ``destination_digest`` (the target's digest now: the source's once copied), ``outcome`` and
    ``error``. Outcomes: added, updated (a dry run: add, update), unchanged, kept (left alone by
    ``skipExisting`` or ``immutableTags``), failed, and not finished (an interrupted run)."""
    rows = []
    for s in states:
        outcome = s.action.value if dry_run else _DONE.get(s.action, s.action.value)
        error, now = s.error, s.target_digest
        if s.action in (Action.ADD, Action.UPDATE) and not dry_run:
            name = label(s)
            if name in report.failed:
                outcome, error = "failed", report.failed[name]
            elif name in report.done:
                now = report.done[name].digest  # the source's, or a platform selection's own
            else:  # interrupted before this image was through
                outcome = "not finished"
        elif s.action is Action.KEPT:
            error = (f"the source is {s.source_digest}, the target keeps {s.target_digest} "
                     f"({s.entry.keeping_rule(s.target.tag or '')})")
        rows.append({"reference": str(s.source),
                     "source_digest": str(s.source_digest) if s.source_digest else None,
                     "destination": str(Reference(s.target.repository, s.target.tag)),
                     "destination_digest_before": str(s.target_digest) if s.target_digest else None,
                     "destination_digest": str(now) if now else None,
                     "outcome": outcome, "error": error})
    return rows


def print_summary(rows: list[dict[str, Any]], counts: Counter[str], requests: dict[str, dict[str, int]],
                  report: Report, *, dry_run: bool, as_json: bool, sharded: bool) -> None:
    """The JSON report (ui.jsonreport: ``rows`` are its image records; ``details``: the manifest
    GETs and HEADs per source host; a dry run's ``throughput.bytes`` is what would move), or a line
    per tag kept back, failed (or, in a dry run, to change), the counts, the manifest requests per
    source host and the engine's summary."""
    if as_json:
        print_json(report_json("sync", rows, dry_run=dry_run,
                               blobs={o.value: n for o, n in report.blobs.items()},
                               referrers=report.referrers, moved=report.bytes_moved, seconds=report.seconds,
                               interrupted=report.interrupted, notes=report.notes,
                               details={"manifest_requests": requests}))
        return
    for row in rows:
        if row["outcome"] in _NAMED or (dry_run and row["outcome"] != "unchanged"):
            why = f": {row['error']}" if row["error"] else ""
            print_text(f"{row['outcome']} {row['reference']} -> {row['destination']}{why}")
    if counts:
        print_text("sync: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    else:
        print_text("sync: no tags in this shard" if sharded else "sync: no tags kept by the filters")
    for host, n in requests.items():
        print_text(f"source {host}: {n['GET']} manifest GETs, {n['HEAD']} HEADs")
    if dry_run:
        print_text(f"dry run: {report.bytes_moved / 1e6:.1f} MB to move; nothing was copied")
    elif report.done or report.failed or report.interrupted:  # a run that copied nothing has no summary
        print_report(report)


async def list_tags(client: RegistryClient, config: SyncConfig, as_json: bool) -> int:
    """Print each ``SRC -> DST`` pair's kept tags (entries naming the same pair are merged: the
    union, in entry order); 1 when a source could not be listed. With ``as_json`` the tags are
    the report's ``details.tags``, and each source that could not be listed is also a failed
    image record, as a sync run reports it (``result_rows``), so it shows in ``counts`` too."""
    listed: dict[str, list[str] | str] = {}
    failed: list[TagState] = []
    gate = asyncio.Semaphore(1)
    for item in await expand(client, config.entries, gate):
        entry = item if isinstance(item, SyncEntry) else item.entry
        name = f"{entry.source} -> {entry.target}"
        if isinstance(item, TagState):
            listed[name] = f"error: {item.error}"
            failed.append(item)
            continue
        try:
            tags = await kept_tags(client, item)
        except InputError:
            raise
        except RelocatorError as exc:  # this entry's source: name it, go on with the others
            listed[name] = f"error: {exc}"
            failed.append(TagState(item, Reference(item.source), Reference(item.target), Action.FAILED,
                                   error=str(exc)))
            continue
        before = listed.get(name, [])
        if isinstance(before, list):  # an error already named for this pair stays
            listed[name] = list(dict.fromkeys([*before, *tags]))
    if as_json:  # no image is copied: the kept tags of each pair are the details
        nothing = {o.value: 0 for o in Outcome}
        rows = result_rows(failed, Report(), labels(failed), dry_run=True)
        print_json(report_json("sync", rows, dry_run=True, blobs=nothing, details={"tags": listed}))
    else:
        for name, kept in listed.items():
            print_text(f"{name}: {kept if isinstance(kept, str) else ' '.join(kept) or '(none)'}")
    return 1 if failed else 0
