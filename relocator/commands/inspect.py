"""`relocator inspect REF`: resolve a reference and describe what it points to."""

from __future__ import annotations

import argparse
from typing import Any

from relocator.auth import CredentialStore
from relocator.auth.credentials import ANY_HOST
from relocator.commands.args import add_global_flags, add_registry_flags, settings_from
from relocator.commands.common import open_client
from relocator.commands.credentials import credential_store
from relocator.config import Settings
from relocator.oci import Reference
from relocator.ui import print_json, print_text

__all__ = ["inspect", "register", "run"]


async def inspect(settings: Settings, text: str,
                  credentials: CredentialStore | None = None) -> dict[str, Any]:
    """The reference's digest, media type, size and children, as JSON-ready data."""
    ref = Reference.parse_arg(text)
    async with open_client(settings, credentials=credentials) as client:
        manifest = await client.get_manifest(ref)
    return {
        "reference": str(ref),
        "digest": str(manifest.digest),
        "mediaType": manifest.media_type,
        "size": len(manifest.raw),
        "children": [c.to_json() for c in manifest.children],
    }


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``inspect REF [--json]``."""
    p = sub.add_parser("inspect", help="show the digest and children of an image reference")
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


async def run(args: argparse.Namespace) -> int:
    """Print the reference's digest, media type and children."""
    info = await inspect(settings_from(args), args.reference,
                         credential_store(args, sources=[ANY_HOST], destinations=()))
    if args.json:
        print_json(info)
    else:
        print_text(f"{info['reference']}\t{info['digest']}\t{info['mediaType']}")
        for child in info["children"]:
            print_text(f"  {_platform(child.get('platform'))}\t{child['digest']}\t{child['size']}\t"
                       f"{child['mediaType']}")
    return 0
