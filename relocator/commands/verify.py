"""`relocator verify FILE.tar`: every blob's digest and size, every manifest's children, index.json,
and for each referrer the layout lists (stores.layout_referrers) its manifest and its subject.

Takes whatever ``open_layout`` reads: OCI layouts (tar, tar.gz, directory), Docker archives and
Carvel tarballs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relocator.commands.args import add_global_flags
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Repository
from relocator.stores.layout_source import LayoutSource, open_layout
from relocator.ui import print_json, print_note, print_text
from relocator.ui.jsonreport import image_record, report_json

__all__ = ["VerifyResult", "register", "run", "verify"]


@dataclass(slots=True)
class VerifyResult:
    """Problems found, one line each, what was checked (``bytes`` of blobs read back and hashed),
    the reader's notes (a Docker archive's rebuilt manifests), and each entry of the index:
    ``entries`` as (name or None, manifest digest), ``entry_error`` its first problem."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blobs: int = 0
    blobs_failed: int = 0  # unreadable, or not matching their digest or size
    manifests: int = 0
    references: int = 0
    referrers: int = 0
    omitted: int = 0  # index entries left out on purpose (--platform-mode sparse), not problems
    bytes: int = 0
    entries: list[tuple[str | None, Digest]] = field(default_factory=list)
    # The first problem found in each blob or manifest, and what each parsed manifest holds: an
    # entry fails with the first problem anywhere under it, a shared blob's in each entry alike.
    found: dict[Digest, str] = field(default_factory=dict)
    children: dict[Digest, tuple[Digest, ...]] = field(default_factory=dict)

    def problem(self, digest: Digest, text: str) -> None:
        """Record ``text`` as a problem of the blob or manifest ``digest``."""
        self.problems.append(text)
        self.found.setdefault(digest, text)

    def entry_error(self, digest: Digest) -> str | None:
        """The first problem in the manifest ``digest`` or anything under it; None if there is none."""
        stack, seen = [digest], set()
        while stack:
            here = stack.pop()
            if here in self.found:
                return self.found[here]
            seen.add(here)
            stack.extend(c for c in reversed(self.children.get(here, ())) if c not in seen)
        return None


async def verify(path: Path) -> VerifyResult:
    """Check the layout: each problem in its content is a line of the result.

    Raises InputError (exit 2, as every command that reads an archive) when ``path`` cannot be
    opened as one: unreadable, of no known format, an unsafe member, an entry that does not
    match its manifest (``open_layout``).
    """
    result = VerifyResult()
    source = await asyncio.to_thread(open_layout, path)
    with source:
        result.notes = list(source.notes)
        result.references = len(source.entries)
        result.entries = [(e.ref_name, e.descriptor.digest) for e in source.entries]
        bad = await _check_blobs(source, result)
        seen: set[Digest] = set()
        result.omitted = len(source.left_out)
        seen |= source.left_out  # listed as left out: not looked for
        for entry in source.entries:
            await _check_manifest(source, entry.descriptor, seen, bad, result)
        for entry, subject in source.referrers.entries:
            result.referrers += 1
            await _check_manifest(source, entry.descriptor, seen, bad, result)
            if subject not in source.digests:
                digest = entry.descriptor.digest
                result.problem(digest, f"{source.where}: referrer {digest}: its subject {subject} is not in "
                                       "the layout")
    return result


async def _check_blobs(source: LayoutSource, result: VerifyResult) -> set[Digest]:
    bad: set[Digest] = set()
    repo = Repository("layout", "verify")
    for digest in sorted(source.digests):
        size = source.member(digest).size
        try:
            async with source.open_blob(repo, Descriptor("", digest, size)) as chunks:
                async for chunk in chunks:
                    result.bytes += len(chunk)
            result.blobs += 1
        except RelocatorError as exc:
            bad.add(digest)
            result.blobs_failed += 1
            text = str(exc)  # a blob's error names the archive and the member already
            result.problem(digest, text if text.startswith(source.where) else f"{source.where}: {text}")
    return bad


async def _check_manifest(source: LayoutSource, desc: Descriptor, seen: set[Digest],
                          bad: set[Digest], result: VerifyResult) -> None:
    if desc.digest in seen:
        return
    seen.add(desc.digest)
    where = f"{source.where}: manifest {desc.digest}"
    if desc.digest not in source.digests:
        result.problem(desc.digest, f"{where}: missing")
        return
    if desc.digest in bad:
        return
    try:
        source.member(desc.digest, desc.size)
        manifest = Manifest.parse(await source.read_small(desc.digest), desc.media_type or None, where)
    except RelocatorError as exc:
        result.problem(desc.digest, str(exc) if str(exc).startswith(source.where) else f"{where}: {exc}")
        return
    result.manifests += 1
    result.children[desc.digest] = tuple(c.digest for c in manifest.children if not c.urls)
    for child in manifest.children:
        if manifest.is_index:
            await _check_manifest(source, child, seen, bad, result)
        elif child.urls:
            continue  # non-distributable layers may be left out on purpose
        elif child.digest not in source.digests:
            result.problem(desc.digest, f"{where}: child {child.digest} is missing")
        elif source.member(child.digest).size != child.size:
            size = source.member(child.digest).size
            result.problem(desc.digest, f"{where}: child {child.digest} has {size} bytes, the manifest "
                                        f"says {child.size}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``verify FILE.tar|DIR``."""
    p = sub.add_parser("verify", help="check a tarball: digests, sizes, children, index.json")
    p.add_argument("tarball", type=Path, metavar="FILE.tar|DIR")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """One line per problem (exit 1), or one line saying what was verified; an archive that
    cannot be opened is bad input (InputError, exit 2). ``--json``: the JSON report instead
    (ui.jsonreport), an image record per index entry, verified or failed with its first problem."""
    started = time.monotonic()
    result = await verify(args.tarball)
    if args.json:
        print_json(_report(args.tarball, result, time.monotonic() - started))
        return 1 if result.problems else 0
    for note in result.notes:
        print_note(note)
    for problem in result.problems:
        print_text(problem)
    if result.problems:
        return 1
    referrers = f"{result.referrers} referrers, " if result.referrers else ""
    omitted = (f" ({result.omitted} platform manifests left out on purpose: --platform-mode sparse)"
               if result.omitted else "")
    print_text(f"{args.tarball}: ok: {result.references} references, {referrers}"
               f"{result.manifests} manifests, {result.blobs} blobs verified{omitted}")
    return 0


def _report(path: Path, result: VerifyResult, seconds: float) -> dict[str, Any]:
    """verify's JSON report: blobs verified and failed, the bytes hashed in ``seconds``; every
    problem (those of referrers too) in ``details.problems``."""
    images = []
    for name, digest in result.entries:
        error = result.entry_error(digest)
        images.append(image_record(name, "failed" if error else "verified", source_digest=digest,
                                   error=error))
    return report_json("verify", images, blobs={"verified": result.blobs, "failed": result.blobs_failed},
                       referrers=result.referrers, moved=result.bytes, seconds=seconds, notes=result.notes,
                       details={"path": str(path), "problems": result.problems, "manifests": result.manifests,
                                "references": result.references})
