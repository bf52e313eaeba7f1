"""`relocator inspect REF`: resolve a reference and describe what it points to, and what refers to it.

Referrers are looked up the way relocate finds them (stores.registry: the Referrers API, else the
fallback tag, plus cosign legacy tags) for the manifest and each index child, and for each
referrer in turn, and printed as a tree under what they refer to.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from relocator.auth import CredentialStore
from relocator.auth.credentials import ANY_HOST
from relocator.commands.args import add_global_flags, add_registry_flags, settings_from
from relocator.commands.common import open_client
from relocator.commands.credentials import credential_store
from relocator.config import Settings
from relocator.errors import InputError, RelocatorError
from relocator.oci import Descriptor, Reference, Repository
from relocator.oci.referrers import referrer_descriptor
from relocator.stores.registry import RegistryStore
from relocator.ui import print_json, print_note, print_text
from relocator.ui.jsonreport import image_record, report_json

__all__ = ["inspect", "register", "run"]

_DEPTH = 8  # referrers of referrers this deep are plenty (and a legacy tag cannot loop us)


async def inspect(settings: Settings, text: str,
                  credentials: CredentialStore | None = None) -> dict[str, Any]:
    """The reference's digest, media type, size, children and referrers (a tree: each entry's own
    under ``referrers``; an index child's under the child), as JSON-ready data; ``notes`` says
    what was found but ignored. Raises RelocatorError when a lookup fails."""
    ref = Reference.parse_arg(text)
    async with open_client(settings, credentials=credentials) as client:
        store = RegistryStore(client)
        manifest = await client.get_manifest(ref)
        notes: list[str] = []
        tree = _Tree(store, ref.repository, notes)
        children = [c.to_json() for c in manifest.children]
        if manifest.is_index:
            found = await asyncio.gather(*(tree.referrers(c, {manifest.digest}) for c in manifest.children))
            for child, referrers in zip(children, found, strict=True):
                child["referrers"] = referrers
        top = await tree.referrers(manifest.descriptor, set())
    return {
        "reference": str(ref),
        "digest": str(manifest.digest),
        "mediaType": manifest.media_type,
        "size": len(manifest.raw),
        "children": children,
        "referrers": top,
        "notes": notes,
    }


class _Tree:
    """Referrers of a subject, each with its own, read through one store."""

    def __init__(self, store: RegistryStore, repo: Repository, notes: list[str]) -> None:
        self.store, self.repo, self.notes = store, repo, notes

    async def referrers(self, subject: Descriptor, chain: set[Any]) -> list[dict[str, Any]]:
        if subject.digest in chain or len(chain) > _DEPTH:
            return []
        found = await self.store.list_referrers(self.repo, subject)
        self.notes.extend(n for n in found.notes if n not in self.notes)
        out = []
        for referrer in found.referrers:
            manifest = referrer.manifest or await self.store.get_manifest(
                Reference(self.repo, digest=referrer.digest))
            entry = referrer_descriptor(manifest).to_json()
            if referrer.tag is not None:
                entry["tag"] = referrer.tag
            entry["referrers"] = await self.referrers(manifest.descriptor, chain | {subject.digest})
            out.append(entry)
        return sorted(out, key=lambda e: (e.get("artifactType", ""), e["digest"]))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``inspect REF [--json]``."""
    p = sub.add_parser("inspect", help="show the digest, children and referrers of an image reference")
    p.add_argument("reference", metavar="REF", help="HOST/REPO[:TAG|@DIGEST], or docker://REF")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_registry_flags(p)
    add_global_flags(p, top=False)
    p.set_defaults(run=run)


def _platform(platform: dict[str, str] | None) -> str:
    """``os/architecture[/variant]`` of an index child; ``-`` for a config or layer."""
    if not platform:
        return "-"
    parts = [platform.get("os", "?"), platform.get("architecture", "?"), platform.get("variant")]
    return "/".join(p for p in parts if p)


def _tree(referrers: list[dict[str, Any]], indent: str) -> None:
    """One line per referrer under its subject: type, digest, size, and a legacy tag."""
    for entry in referrers:
        tag = f"\ttag {entry['tag']}" if "tag" in entry else ""
        kind = entry.get("artifactType") or entry["mediaType"]
        print_text(f"{indent}└─ {kind}\t{entry['digest']}\t{entry['size']}{tag}")
        _tree(entry["referrers"], indent + "   ")


def _report(text: str, info: dict[str, Any] | None, error: str | None, seconds: float) -> dict[str, Any]:
    """The JSON report (ui.jsonreport): one image, found (``details``: the ``inspect`` data but its
    notes, which are the report's) or failed with the lookup's error."""
    if info is None:
        return report_json("inspect", [image_record(text, "failed", error=error)], seconds=seconds)
    details = {k: v for k, v in info.items() if k != "notes"}
    image = image_record(text, "found", source_digest=info["digest"])
    return report_json("inspect", [image], referrers=_count(info), seconds=seconds, notes=info["notes"],
                       details=details)


def _count(info: dict[str, Any]) -> int:
    """Referrers in the tree, at every depth, the children's included."""
    def under(entries: list[dict[str, Any]]) -> int:
        return sum(1 + under(e["referrers"]) for e in entries)

    return under(info["referrers"]) + sum(under(c.get("referrers", [])) for c in info["children"])


async def run(args: argparse.Namespace) -> int:
    """Print the reference's digest, media type, children and referrers; with ``--json``, a lookup
    that fails is a failed image in the report (exit 1)."""
    settings = settings_from(args)
    credentials = credential_store(args, sources=[ANY_HOST], destinations=())
    Reference.parse_arg(args.reference)  # a malformed reference is bad input (exit 2), not a failed image
    started = time.monotonic()
    if args.json:
        try:
            info = await inspect(settings, args.reference, credentials)
        except InputError:
            raise
        except RelocatorError as exc:
            print_json(_report(args.reference, None, str(exc), time.monotonic() - started))
            return 1
        print_json(_report(args.reference, info, None, time.monotonic() - started))
        return 0
    info = await inspect(settings, args.reference, credentials)
    print_text(f"{info['reference']}\t{info['digest']}\t{info['mediaType']}")
    _tree(info["referrers"], "  ")
    for child in info["children"]:
        print_text(f"  {_platform(child.get('platform'))}\t{child['digest']}\t{child['size']}\t"
                   f"{child['mediaType']}")
        _tree(child.get("referrers", []), "    ")
    for note in info["notes"]:
        print_note(note)
    return 0
