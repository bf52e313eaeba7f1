"""The upload sessions a run left unfinished, kept in the state directory for the next run.

``STATE/uploads/<key>.json``, one small file per blob being uploaded (registry, repository, digest,
Location, when written), replaced atomically (write, then rename) at each step of the upload and
removed when it ends. The directory is 0700 and the files 0600: a Location is no credential (the
registry still asks for one, and only its own origin's Locations are kept: registry/sessions.py),
but it names the user's work. An entry older than ``MAX_AGE`` is dropped unread, and swept out
before a run's first write with whatever else is that old: registries purge idle sessions
(distribution after a week by default).

A dry run's book (``read_only``) reads entries and never writes or removes one.

Keeping sessions is best effort: a state directory that cannot be written costs the next run its
resume, never this run its result; the first failure is one warning line, and the book stays
quiet after it.
"""

from __future__ import annotations

import fcntl
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
_MAX_ENTRY = 64 * 1024  # bytes: an entry is a few hundred; more is no entry of ours


class UploadBook:
    """A SessionBook (registry/sessions.py) in ``directory`` (default: ``STATE/uploads``);
    ``read_only``: a dry run's, which changes nothing there."""

    def __init__(self, directory: Path | None = None, *, read_only: bool = False) -> None:
        self._directory = directory
        self._broken = False
        self._read_only = read_only
        self._swept = False
        self._lock: int | None = None  # the fd of uploads.lock once opened (-1: it cannot be)

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self._directory = state_dir() / "uploads"
        return self._directory

    def find(self, registry: str, repository: str, digest: str) -> str | None:
        path = self._path(registry, repository, digest)
        try:
            with path.open("rb") as f:
                entry = json.loads(f.read(_MAX_ENTRY))
        except OSError:
            return None
        except ValueError:  # written by rename, so never half: no entry of ours
            entry = None
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
        # One name per entry: only the run that claimed the entry writes it, and a file a killed
        # run left here is overwritten by the next keep and removed by forget.
        temporary = path.with_suffix(".tmp")
        try:
            if not self._swept:
                self._sweep()
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
        path = self._path(registry, repository, digest)
        self._remove(path)
        self._remove(path.with_suffix(".tmp"))

    def _sweep(self) -> None:
        """Once per book, before its first write: remove what is older than MAX_AGE (entries of
        blobs that never came up again, files a killed run left), so the directory stays small."""
        self._swept = True
        try:
            old = [f for f in self.directory.iterdir()
                   if f.suffix in (".json", ".tmp") and time.time() - f.stat().st_mtime > MAX_AGE]
        except OSError:
            return
        for f in old:
            self._remove(f)

    def claim(self, registry: str, repository: str, digest: str) -> bool:
        """One byte of ``uploads.lock`` beside the directory, locked with an fcntl record lock
        (the kernel drops it when the process dies, ``kill -9`` included; runlock.TargetLocks
        does the same for sync's targets). A book that cannot lock claims everything: it cannot
        keep entries either."""
        fd = self._lock_fd()
        if fd is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _slot(registry, repository, digest))
        except OSError:
            return False
        return True

    def release(self, registry: str, repository: str, digest: str) -> None:
        fd = self._lock_fd()
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _slot(registry, repository, digest))

    def close(self) -> None:
        """Drop every claim this book holds (closing the lock file does)."""
        if self._lock is not None and self._lock >= 0:
            os.close(self._lock)
        self._lock = None

    def _lock_fd(self) -> int | None:
        if self._lock is None and not self._read_only:
            path = self.directory.with_name(self.directory.name + ".lock")
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._lock = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self._lock = -1
        return None if self._lock is None or self._lock < 0 else self._lock

    def _remove(self, path: Path) -> None:
        if self._read_only:
            return
        try:
            path.unlink()
        except OSError:
            pass

    def _path(self, registry: str, repository: str, digest: str) -> Path:
        return self.directory / f"{_key(registry, repository, digest)}.json"


def _key(registry: str, repository: str, digest: str) -> str:
    return hashlib.sha256(f"{registry}\n{repository}\n{digest}".encode()).hexdigest()[:32]


def _slot(registry: str, repository: str, digest: str) -> int:
    """The entry's byte in uploads.lock (a collision only costs a resume, never correctness)."""
    return int(_key(registry, repository, digest)[:7], 16)
