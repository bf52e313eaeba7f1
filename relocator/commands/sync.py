"""`relocator sync`: keep whole repositories mirrored, from a config or one pair on the command line.

The diff (frontends.syncdiff) HEADs every kept tag at both ends; only what differs becomes
inputs to the one engine, so each blob is fetched once across all repositories of the run and
mounted between destination repositories. Locks in the state directory (stores.runlock) keep a
second run of the same job, or any other writing run into one of the same target repositories,
from starting while the first is still going.

Exit codes: 0 everything is in sync (tags kept back by a rule included), 1 some images failed (the
others are done), 2 bad input or config, or a run already in progress.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from relocator.commands.args import (
    add_global_flags,
    add_platform_flags,
    add_referrers_flag,
    add_registry_flags,
    output_file,
    platform_selection,
    referrer_policy,
    settings_from,
    shard,
)
from relocator.commands.common import open_client
from relocator.commands.credentials import credential_store
from relocator.commands.syncout import labels, list_tags, print_summary, result_rows
from relocator.config import Settings
from relocator.engine.copy import copy
from relocator.engine.dryrun import DryRunSink
from relocator.engine.events import Report
from relocator.engine.sharding import bucket_of
from relocator.engine.target import ImageInput
from relocator.errors import InputError
from relocator.frontends.syncconfig import SyncConfig, load_sync_config, single_entry
from relocator.frontends.syncdiff import Action, TagState, diff, settled
from relocator.frontends.syncmodel import lock_key
from relocator.frontends.tagfilter import TagRules
from relocator.oci import Reference
from relocator.stores.files import write_atomic
from relocator.stores.registry import RegistryStore
from relocator.stores.runlock import run_lock, target_locks
from relocator.stores.uploadbook import UploadBook
from relocator.stores.written import Written, load_written, save_written
from relocator.ui import print_note
from relocator.ui.render import QuietReporter, choose_reporter

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sync -f CONFIG [--dest D [--scoped]]`` or ``sync SRC_REPO DST_REPO [filters]``."""
    p = sub.add_parser("sync", help="keep whole repositories mirrored (tag filters, HEAD diff, cron-safe)",
                       description="Mirror repositories: from a config (ours, skopeo sync YAML or regsync "
                                   "YAML, detected by content) or one SRC_REPO DST_REPO pair.")
    p.add_argument("pair", nargs="*", metavar="SRC_REPO DST_REPO", help="one repository and its mirror")
    p.add_argument("-f", "--config", type=Path, metavar="CONFIG", help="a sync config file")
    p.add_argument("--dest", metavar="HOST[/PATH]", help="for a skopeo sync file: where images go")
    p.add_argument("--scoped", action="store_true",
                   help="with --dest: keep the full source path (skopeo sync --scoped)")
    rules = p.add_argument_group("tag filters (with SRC_REPO DST_REPO)")
    rules.add_argument("--allow", action="append", default=[], metavar="REGEX", help="keep matching tags")
    rules.add_argument("--deny", action="append", default=[], metavar="REGEX", help="drop matching tags")
    rules.add_argument("--semver", metavar="RANGE", help="keep versions in range, e.g. '>=1.20 <2'")
    rules.add_argument("--latest", type=int, metavar="N", help="keep the N newest versions")
    rules.add_argument("--skip-existing", action="store_true", help="never overwrite a tag at the target")
    rules.add_argument("--immutable-tags", action="append", default=[], metavar="REGEX",
                       help="never overwrite a matching tag at the target")
    p.add_argument("--list-tags", action="store_true", help="print the tags the filters keep; copy nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="print the diff and the bytes to move; copy nothing")
    p.add_argument("--results", type=output_file, metavar="FILE",
                   help="write one JSON line per image: reference, digests, destination, outcome, error")
    p.add_argument("--shard", type=shard, metavar="I/N",
                   help="copy only shard I of N (0-based); images sharing blobs stay in one shard")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_referrers_flag(p)
    add_platform_flags(p)
    add_registry_flags(p)
    p.set_defaults(concurrency=None)  # the config's concurrency applies unless the flag is given
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> SyncConfig:
    if args.config is not None:
        if args.pair:
            raise InputError("give either -f CONFIG or SRC_REPO DST_REPO, not both")
        if args.allow or args.deny or args.semver or args.latest or args.skip_existing or args.immutable_tags:
            raise InputError("tag filter flags go with SRC_REPO DST_REPO; a config file sets its own")
        return load_sync_config(args.config, dest=args.dest, scoped=args.scoped)
    if len(args.pair) != 2:
        raise InputError("give -f CONFIG, or SRC_REPO DST_REPO")
    if args.dest is not None or args.scoped:
        raise InputError("--dest and --scoped are for skopeo sync files (-f)")
    if args.latest is not None and args.latest < 1:
        raise InputError(f"--latest must be at least 1, got {args.latest}")
    rules = TagRules(TagRules.compile_patterns(args.allow, "--allow"),
                     TagRules.compile_patterns(args.deny, "--deny"), args.semver, args.latest)
    entry = single_entry(args.pair[0], args.pair[1], rules, skip_existing=args.skip_existing,
                         immutable=args.immutable_tags)
    return SyncConfig("command line", "relocator", (entry,))


async def run(args: argparse.Namespace) -> int:
    """Sync; see the module docstring for the exit codes."""
    referrer_policy(args)  # a bad --referrers or --platform is refused before the config is read
    platform_selection(args)
    config = _config(args)
    if args.list_tags and args.results is not None:
        raise InputError("--results is not written with --list-tags, which copies nothing; use --dry-run")
    for warning in config.warnings:
        print_note(warning)
    if args.concurrency is None:
        args.concurrency = config.concurrency or 16
    settings = settings_from(args)
    if config.insecure_hosts:
        tls = replace(settings.tls, insecure_registries=settings.tls.insecure_registries
                      | frozenset(config.insecure_hosts))
        settings = replace(settings, tls=tls)
    what = str(args.config or "this pair")
    with run_lock(lock_key(config), what) as lock, target_locks(what) as targets:
        writes = not (args.list_tags or args.dry_run)  # a look that writes nothing blocks no one
        if writes:  # a whole registry's repositories are known after its catalog: see below
            targets.take(f"{e.target}/*" if e.whole_registry else str(e.target) for e in config.entries)
        credentials = credential_store(args, sources=[e.source.registry for e in config.entries],
                                       destinations=[e.target.registry for e in config.entries])
        async with open_client(settings, credentials=credentials) as client:
            if args.list_tags:
                return await list_tags(client, config, args.json)
            memo = lock.with_suffix(".written.json")
            chosen = _selection(args)
            written = load_written(memo)
            states = settled(await diff(client, config.entries, settings.limits.concurrency), written, chosen)
            if writes:
                targets.take(str(s.target.repository) for s in states)
            report = Report()
            try:
                mine = await _copy(client, settings, states, args, report)
            except asyncio.CancelledError:
                # Interrupted (SIGINT, SIGTERM): what finished is written and summed up all the
                # same; cli.py then exits 130 or 143.
                label = labels(states)
                others = _others(args.shard, label)
                moving = {Action.ADD, Action.UPDATE}
                _finish(states, lambda t: label(t) in report.images if t.action in moving else others(t),
                        report, _requests(client, config), args)
                if writes:
                    _remember(memo, written, states, report, chosen)
                raise
            if writes:
                _remember(memo, written, states, report, chosen)
            return _finish(states, mine, report, _requests(client, config), args)


def _selection(args: argparse.Namespace) -> Callable[[TagState], str]:
    """Each tag's platform selection as text: its entry's ``platforms:``, else the run's."""
    run_wide = str(platform_selection(args))
    return lambda s: run_wide if s.entry.platforms is None else str(s.entry.platforms)


def _remember(memo: Path, written: dict[str, Written], states: list[TagState], report: Report,
              selection: Callable[[TagState], str]) -> None:
    """Record what each copied tag got where it is not the source's digest (stores.written), and
    forget a tag copied whole; a note when the state directory cannot keep it."""
    label, before = labels(states), dict(written)
    for s in states:
        done = report.done.get(label(s)) if s.action in (Action.ADD, Action.UPDATE) else None
        if done is None or done.digest is None:
            continue
        if done.digest == s.source_digest:
            written.pop(str(s.target), None)
        else:
            written[str(s.target)] = Written(str(s.source_digest), str(done.digest), selection(s))
    if written != before and not save_written(memo, written):
        print_note(f"{memo}: cannot be written; tags copied with --platform will be copied again next run")


def _finish(states: list[TagState], mine: Callable[[TagState], bool], report: Report,
            requests: dict[str, dict[str, int]], args: argparse.Namespace) -> int:
    """Write ``--results`` (atomically), print the summary; the exit code."""
    rows = result_rows([s for s in states if mine(s)], report, labels(states), dry_run=args.dry_run)
    if args.results is not None:
        write_atomic(args.results, "".join(json.dumps(r) + "\n" for r in rows).encode())
    counts = Counter(r["outcome"] for r in rows)
    print_summary(rows, counts, requests, report, dry_run=args.dry_run, as_json=args.json,
                  sharded=args.shard is not None and bool(states))
    return 1 if counts["failed"] else 0


async def _copy(client: RegistryClient, settings: Settings, states: list[TagState],
                args: argparse.Namespace, report: Report) -> Callable[[TagState], bool]:
    """Copy every added or updated tag in one engine run (a dry run counts, writes nothing),
    filling ``report``. Each (source, target) pair is its own input, labelled apart when one
    source tag goes to several targets; blobs are still read once. Returns which tags this run
    reports on (all, or with --shard those of its shard)."""
    moving = [s for s in states if s.action in (Action.ADD, Action.UPDATE)]
    label = labels(states)
    if not moving:
        return _others(args.shard, label)
    inputs = [ImageInput(label(s), s.pinned, s.entry.where, s.entry.referrers, s.target, s.entry.platforms)
              for s in moving]
    store = RegistryStore(client, chunk_size=settings.limits.chunk_size,
                          sessions=UploadBook(read_only=True) if args.dry_run else None)
    sink = DryRunSink(store) if args.dry_run else store
    reporter = QuietReporter() if args.dry_run else choose_reporter(args.json)

    def unmapped(ref: Reference) -> Reference:
        raise AssertionError(f"{ref}: every sync input names its destination")

    plan, _ = await copy(store, sink, inputs, unmapped, settings.limits, reporter,
                         shard=args.shard, referrers=referrer_policy(args),
                         platforms=platform_selection(args), report=report)
    if args.shard is None:
        return lambda _: True
    planned = {t.label for t in plan.targets} | set(plan.failed)
    moved, others = {id(s) for s in moving}, _others(args.shard, label)
    return lambda s: label(s) in planned if id(s) in moved else others(s)


def _others(shard_of: tuple[int, int] | None, label: Callable[[TagState], str]) -> Callable[[TagState], bool]:
    """Tags that move nothing are reported by the shard their label hashes to."""
    if shard_of is None:
        return lambda _: True
    index, count = shard_of
    return lambda s: bucket_of(label(s), count) == index


def _requests(client: RegistryClient, config: SyncConfig) -> dict[str, dict[str, int]]:
    hosts = sorted({e.source.registry for e in config.entries})
    return {h: {m: client.manifest_requests[(h, m)] for m in ("GET", "HEAD")} for h in hosts}
