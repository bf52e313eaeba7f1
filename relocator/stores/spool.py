"""A bounded on-disk spool for verified blobs waiting for the tar writer."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    """Temp files in one directory, holding at most ``limit`` bytes (a bigger blob goes alone)."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.directory = directory
        self.limit = limit
        self.used = 0
        self._made = False
        self._cond = asyncio.Condition()

    async def reserve(self, size: int) -> None:
        """Wait for room for ``size`` bytes."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.used == 0 or self.used + size <= self.limit)
            self.used += size

    def remove(self) -> None:
        """Remove the spool directory if this run made it and it is empty."""
        if self._made:
            try:
                self.directory.rmdir()
            except OSError:
                pass

    async def release(self, size: int) -> None:
        """Give ``size`` bytes of room back."""
        async with self._cond:
            self.used -= size
            self._cond.notify_all()

    async def fill(self, chunks: AsyncIterator[bytes]) -> Path:
        """Write ``chunks`` to a new spool file and return its path."""
        if not self._made:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._made = True
        fd, name = tempfile.mkstemp(prefix="relocator-spool-", dir=self.directory)
        try:
            with os.fdopen(fd, "wb", buffering=0) as f:
                async for chunk in chunks:
                    f.write(chunk)  # page-cache writes of 256 KiB: cheaper than a thread hop
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)
