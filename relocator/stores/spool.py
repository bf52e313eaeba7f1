"""An on-disk spool for verified blobs waiting for the tar stream's writer.

It has no bound of its own: what it may hold is the run's byte budget's business (a blob keeps its
room there until the writer has taken it; see ``tarstream``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    """Temp files in one directory, made on first use."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._made = False

    def remove(self) -> None:
        """Remove the spool directory if this run made it and it is empty."""
        if self._made:
            try:
                self.directory.rmdir()
            except OSError:
                pass

    async def fill(self, chunks: AsyncIterator[bytes]) -> Path:
        """Write ``chunks`` to a new spool file and return its path (none is left on failure)."""
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
