"""The upload sessions a run left unfinished, kept in the state directory for the next run.

``STATE/uploads/<key>.json``, one small file per blob being uploaded (registry, repository, digest,
Location, when written), replaced atomically (write, then rename) at each step of the upload and
removed when it ends. The directory is 0700 and the files 0600: a Location is no credential (the
registry still asks for one, and only its own origin's Locations are kept: registry/sessions.py),
but it names the user's work. An entry older than ``MAX_AGE`` is dropped unread: registries purge
idle sessions (distribution after a week by default).

A dry run's book (``read_only``) reads entries and never writes or removes one.

Keeping sessions is best effort: a state directory that cannot be written costs the next run its
resume, never this run its result; the first failure is one warning line, and the book stays
quiet after it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from relocator.stores.runlock import state_dir

__all__ = ["MAX_AGE", "UploadBook"]

log = logging.getLogger(__name__)

MAX_AGE = 7 * 24 * 3600  # seconds


class UploadBook:
    """A SessionBook (registry/sessions.py) in ``directory`` (default: ``STATE/uploads``);
    ``read_only``: a dry run's, which changes nothing there."""

    def __init__(self, directory: Path | None = None, *, read_only: bool = False) -> None:
        self._directory = directory
        self._broken = False
        self._read_only = read_only

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self._directory = state_dir() / "uploads"
        return self._directory

    def find(self, registry: str, repository: str, digest: str) -> str | None:
        path = self._path(registry, repository, digest)
        try:
            entry = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return None
        fits = (isinstance(entry, dict) and entry.get("registry") == registry
                and entry.get("repository") == repository and entry.get("digest") == digest)
        location, written = (entry.get("location"), entry.get("written")) if fits else (None, None)
        if (not isinstance(location, str) or not isinstance(written, (int, float))
                or time.time() - written > MAX_AGE):
            self._remove(path)
            return None
        return location

    def keep(self, registry: str, repository: str, digest: str, location: str) -> None:
        if self._broken or self._read_only:
            return
        path = self._path(registry, repository, digest)
        entry = {"registry": registry, "repository": repository, "digest": digest,
                 "location": location, "written": time.time()}
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(json.dumps(entry).encode())
            os.replace(temporary, path)
        except OSError as exc:
            self._broken = True
            self._remove(temporary)
            log.warning("%s: cannot keep upload sessions for a later resume (%s)",
                        self.directory, exc.strerror)

    def forget(self, registry: str, repository: str, digest: str) -> None:
        self._remove(self._path(registry, repository, digest))

    def _remove(self, path: Path) -> None:
        if self._read_only:
            return
        try:
            path.unlink()
        except OSError:
            pass

    def _path(self, registry: str, repository: str, digest: str) -> Path:
        key = hashlib.sha256(f"{registry}\n{repository}\n{digest}".encode()).hexdigest()[:32]
        return self.directory / f"{key}.json"
