"""One run at a time per job: a lock file in the state directory, held with ``flock``.

A nightly sync that overruns must not race the next night's. The kernel drops an ``flock`` when
its process dies however it dies (``kill -9`` included), so a stale lock never blocks: the next
run simply takes it. The file records the holder's pid and start time for the refusal message.

The state directory is ``$RELOCATOR_STATE_DIR``, else ``$XDG_STATE_HOME/relocator``, else
``~/.local/state/relocator`` (XDG Base Directory specification): the config's own directory may be
read-only (a Kubernetes ConfigMap).

Two different jobs may still write one repository (a nightly config and a one-off ``sync SRC
DST`` for one of its entries). ``TargetLocks`` excludes those: each target repository a writing
run touches is one byte of ``sync-targets.lock``, locked with ``fcntl`` record locks (one file and
one descriptor however many repositories, also dropped when the process dies; ``F_GETLK`` names
the holder's pid).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from relocator.errors import InputError

__all__ = ["TargetLocks", "run_lock", "state_dir", "target_locks"]


def state_dir() -> Path:
    """Where relocator keeps state between runs (see the module docstring)."""
    explicit = os.environ.get("RELOCATOR_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "relocator"


def _open_lock(name: str) -> int:
    directory = state_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"{directory}: cannot keep the run lock ({exc.strerror}); "
                         "set RELOCATOR_STATE_DIR to a writable directory") from None


@contextmanager
def run_lock(job: str, what: str) -> Iterator[Path]:
    """Hold the lock of ``job`` (any string naming the work, e.g. the config's absolute path)
    for the ``with`` block; yields the lock file's path. Raises InputError naming ``what`` and
    the holder when another live run holds it, or when the state directory cannot be written."""
    name = f"sync-{hashlib.sha256(job.encode()).hexdigest()[:16]}.lock"
    path = state_dir() / name
    fd = _open_lock(name)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise InputError(f"{what}: another sync of it is still running ({holder}); "
                             "refusing to start a second") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing drops the flock


class TargetLocks:
    """The target repositories this run writes, each locked for the run (``take``)."""

    def __init__(self, fd: int, what: str) -> None:
        self._fd, self._what = fd, what
        self._held: set[str] = set()

    def take(self, targets: Iterable[str]) -> None:
        """Lock every one of ``targets`` (repository names) not yet held. Raises InputError naming
        ``what``, the first target another live run holds and its pid."""
        for target in sorted(set(targets) - self._held):
            offset = _offset(target)
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
            except OSError:
                holder = _holder(self._fd, offset)
                raise InputError(f"{self._what}: another sync writing {target} is still running"
                                 f"{f' (pid {holder})' if holder else ''}; refusing to start a second"
                                 ) from None
            self._held.add(target)


@contextmanager
def target_locks(what: str) -> Iterator[TargetLocks]:
    """A ``TargetLocks`` for the ``with`` block (``what`` names the run in refusals); every lock
    it took is dropped at the end. Raises InputError when the state directory cannot be written."""
    fd = _open_lock("sync-targets.lock")
    try:
        yield TargetLocks(fd, what)
    finally:
        os.close(fd)  # the process's only descriptor of the file: closing it drops every record lock


def _offset(target: str) -> int:
    """The byte that stands for ``target``: 48 bits of its hash (no two names of one run meet)."""
    return int.from_bytes(hashlib.sha256(target.encode()).digest()[:6], "big")


_FLOCK = "hhqqi4x"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (fcntl(2))


def _holder(fd: int, offset: int) -> int | None:
    """The pid holding the byte at ``offset`` (F_GETLK), None when the platform will not say."""
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, offset, 1, 0)
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))
    except (OSError, struct.error):
        return None
    return pid if kind != fcntl.F_UNLCK and pid > 0 else None
