"""`relocator inspect REF`: resolve a reference and describe what it points to."""

from __future__ import annotations

from typing import Any

from relocator.commands.common import open_client
from relocator.config import Settings
from relocator.oci import Reference

__all__ = ["inspect"]


async def inspect(settings: Settings, text: str) -> dict[str, Any]:
    """The reference's digest, media type, size and children, as JSON-ready data."""
    ref = Reference.parse(text)
    async with open_client(settings) as client:
        manifest = await client.get_manifest(ref)
    return {
        "reference": str(ref),
        "digest": str(manifest.digest),
        "mediaType": manifest.media_type,
        "size": len(manifest.raw),
        "children": [c.to_json() for c in manifest.children],
    }
