"""`relocator ls FILE|DIR`: what a tarball or layout holds, one line (or object) per entry.

Takes whatever ``open_layout`` reads. For each entry: its name (None when it has none), the
manifest's digest and media type, its platforms (an index's children, or an image's config), and
its total size: manifest, config and layers, children included, each blob counted once.

The images come first, then the referrers the layout holds (signatures, SBOMs, attestations:
stores.layout_referrers decides which entries are referrers), each with its subject, its
artifactType and, for a cosign legacy signature, its tag. A referrer has no name: ``pkg`` lists it
in ``index.json`` by its subject (issue 11).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relocator.commands.args import add_global_flags
from relocator.errors import InputError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Platform
from relocator.oci import mediatypes as mt
from relocator.oci.dockerarchive import CONTAINERD_NAME, DOCKER_CONFIG, parse_config
from relocator.oci.layout import IndexEntry
from relocator.oci.platform import attested_digest
from relocator.oci.referrers import Referrer, artifact_type
from relocator.stores.layout_source import LayoutSource, open_layout
from relocator.ui.jsonreport import image_record, report_json
from relocator.ui.listing import print_listing

__all__ = ["ListedEntry", "Listing", "ls", "register", "run"]

_IMAGE_CONFIGS = frozenset({"application/vnd.oci.image.config.v1+json", DOCKER_CONFIG})
_MAX_CONFIG = 1 << 20  # a bigger config is not worth reading for its platform


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """One entry: name or None, digest, media type, ``os/arch[/variant]`` strings, size in bytes;
    for a referrer also its subject's digest, its artifactType (None if it has none) and its cosign
    legacy tag (None for one linked by its ``subject`` field)."""

    name: str | None
    digest: Digest
    media_type: str
    platforms: tuple[str, ...]
    size: int
    subject: Digest | None = None
    artifact_type: str | None = None
    tag: str | None = None
    left_out: tuple[str, ...] = ()  # platforms an index lists that a sparse copy left out

    def to_json(self) -> dict[str, Any]:
        """``{"name", "digest", "mediaType", "platforms", "size"}``, name null when unnamed; a sparse
        index's adds ``"left_out"``, the platforms it lists but the layout lacks; a referrer's row
        adds ``"referrer": {"subject", "artifactType", "tag"}`` (an image has none)."""
        row: dict[str, Any] = {"name": self.name, "digest": str(self.digest), "mediaType": self.media_type,
                               "platforms": list(self.platforms), "size": self.size}
        if self.left_out:
            row["left_out"] = list(self.left_out)
        if self.subject is not None:
            row["referrer"] = {"subject": str(self.subject), "artifactType": self.artifact_type,
                               "tag": self.tag}
        return row


@dataclass(frozen=True, slots=True)
class Listing:
    """What ``path`` holds: the format found, its entries in order, and the reader's notes."""

    where: str
    kind: str
    entries: tuple[ListedEntry, ...]
    notes: tuple[str, ...]


async def ls(path: Path) -> Listing:
    """List the tarball or layout at ``path``.

    Raises InputError naming the file for anything that keeps it from being listed: a format it
    is not, an unsafe member, a missing or unreadable manifest.
    """
    source = await asyncio.to_thread(open_layout, path)
    with source:
        cache: dict[Digest, Manifest] = {}
        try:
            entries = [await _entry(source, e, cache) for e in source.entries]
            for subject, referrers in source.referrers.by_subject.items():
                entries += [await _referrer(source, subject, r, cache) for r in referrers]
        except InputError:
            raise
        except RelocatorError as exc:
            text = str(exc)
            raise InputError(text if text.startswith(source.where) else f"{source.where}: {text}") from None
        return Listing(source.where, source.kind, tuple(entries), tuple(source.notes))


async def _entry(source: LayoutSource, entry: IndexEntry, cache: dict[Digest, Manifest]) -> ListedEntry:
    desc = entry.descriptor
    manifest = await _manifest(source, desc, cache)
    left_out: list[str] = []
    if manifest.is_index:
        # A sparse copy's index lists entries the layout lacks on purpose: not its platforms.
        # buildx attestation manifests (unknown/unknown) are not platforms of the image.
        gone = source.left_out
        listed = [c for c in manifest.children
                  if c.platform is not None and attested_digest(c.annotations) is None]
        platforms = [str(c.platform) for c in listed if c.digest not in gone]
        left_out = [str(c.platform) for c in listed if c.digest in gone]
    else:
        platform = await _config_platform(source, manifest) or desc.platform
        platforms = [str(platform)] if platform is not None else []
    size = await _size(source, Descriptor(manifest.media_type, desc.digest, desc.size), set(), cache)
    # Docker 25 names an entry by tag alone in ref.name and in full in containerd's annotation.
    name = desc.annotations.get(CONTAINERD_NAME) or entry.ref_name
    return ListedEntry(name, desc.digest, manifest.media_type, tuple(platforms), size,
                       left_out=tuple(left_out))


async def _referrer(source: LayoutSource, subject: Digest, referrer: Referrer,
                    cache: dict[Digest, Manifest]) -> ListedEntry:
    listed = await _entry(source, IndexEntry(referrer.descriptor, None), cache)
    kind = referrer.descriptor.artifact_type or artifact_type(cache[referrer.digest])
    return ListedEntry(None, listed.digest, listed.media_type, listed.platforms, listed.size, subject, kind,
                       referrer.tag)


async def _manifest(source: LayoutSource, desc: Descriptor, cache: dict[Digest, Manifest]) -> Manifest:
    if desc.digest not in cache:
        source.member(desc.digest, desc.size)
        cache[desc.digest] = await source.read_manifest(desc.digest, desc.media_type or None)
    return cache[desc.digest]


async def _size(source: LayoutSource, desc: Descriptor, seen: set[Digest],
                cache: dict[Digest, Manifest]) -> int:
    """Bytes of ``desc`` and everything under it not yet in ``seen``; a child manifest the
    archive lacks counts for its own descriptor's size only."""
    if desc.digest in seen:
        return 0
    seen.add(desc.digest)
    if not mt.is_manifest(desc.media_type) or desc.digest not in source.digests:
        return desc.size
    manifest = await _manifest(source, desc, cache)
    return desc.size + sum([await _size(source, c, seen, cache) for c in manifest.children])


async def _config_platform(source: LayoutSource, manifest: Manifest) -> Platform | None:
    config = manifest.config
    if (config is None or config.media_type not in _IMAGE_CONFIGS or config.size > _MAX_CONFIG
            or config.digest not in source.digests):
        return None
    try:
        return parse_config(await source.read_small(config.digest)).platform
    except RelocatorError:
        return None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``ls FILE|DIR [--json]``."""
    p = sub.add_parser("ls", help="list a tarball or layout: OCI, Docker archive, Carvel, .tar.gz")
    p.add_argument("path", type=Path, metavar="FILE|DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Print the listing (or the JSON report: an image record per entry, ``details.entries`` the
    rows); the reader's notes go to stderr (and into the report)."""
    started = time.monotonic()
    listing = await ls(args.path)
    rows = [e.to_json() for e in listing.entries]
    report = None
    if args.json:
        # A referrer is no image of the user's: it is a row of the entries, not an image record.
        images = [image_record(e.name, "listed", source_digest=e.digest)
                  for e in listing.entries if e.subject is None]
        report = report_json("ls", images, seconds=time.monotonic() - started, notes=listing.notes,
                             details={"path": listing.where, "format": listing.kind, "entries": rows})
    print_listing(rows, listing.notes, report=report)
    return 0
