"""An image (not an index) named with ``--platform``: read its config to see whether it is one of
the platforms asked for (issue 11: a named platform is a promise about what lands)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from relocator.engine.platforms import PlatformSelection
from relocator.errors import InputError
from relocator.oci import Descriptor, Manifest, Repository
from relocator.oci.dockerarchive import parse_config

__all__ = ["check_image"]


@runtime_checkable
class _ReadsBlobs(Protocol):
    """A source that can read an image's config while planning (stores.base.BlobSource)."""

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]: ...


_MAX_CONFIG = 4 << 20  # an image config is a few KiB; a bigger one is not read whole to check


async def check_image(source: object, repo: Repository, image: Manifest,
                      selection: PlatformSelection) -> None:
    """An image (not an index) named with platforms is copied if its config's platform is one of
    them (kbld and crane copy it unchecked; a named platform is a promise about what lands).
    Raises InputError naming the platform the config gives, or saying it gives none. A source
    that cannot read blobs while planning (none here does) is trusted."""
    config = image.config
    if not isinstance(source, _ReadsBlobs) or config is None:
        return
    if config.size > _MAX_CONFIG:
        raise InputError(f"an image, not an index, whose config of {config.size} bytes is too large to read "
                         f"for its platform (at most {_MAX_CONFIG})")
    chunks = []
    async with source.open_blob(repo, config) as stream:
        async for chunk in stream:
            chunks.append(chunk)
    found = parse_config(b"".join(chunks)).platform
    if not selection.wants(found):
        has = f"its config says {found}" if found is not None else "its config names no platform"
        raise InputError(f"an image, not an index, and not for {', '.join(map(str, selection.platforms))}: "
                         f"{has}")
