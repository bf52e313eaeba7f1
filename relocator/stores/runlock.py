"""One run at a time per job: a lock file in the state directory, held with ``flock``.

A nightly sync that overruns must not race the next night's. The kernel drops an ``flock`` when
its process dies however it dies (``kill -9`` included), so a stale lock never blocks: the next
run simply takes it. The file records the holder's pid and start time for the refusal message.

The state directory is ``$RELOCATOR_STATE_DIR``, else ``$XDG_STATE_HOME/relocator``, else
``~/.local/state/relocator`` (XDG Base Directory specification): the config's own directory may be
read-only (a Kubernetes ConfigMap).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from relocator.errors import InputError

__all__ = ["run_lock", "state_dir"]


def state_dir() -> Path:
    """Where relocator keeps state between runs (see the module docstring)."""
    explicit = os.environ.get("RELOCATOR_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "relocator"


@contextmanager
def run_lock(job: str, what: str) -> Iterator[Path]:
    """Hold the lock of ``job`` (any string naming the work, e.g. the config's absolute path)
    for the ``with`` block; yields the lock file's path. Raises InputError naming ``what`` and
    the holder when another live run holds it, or when the state directory cannot be written."""
    directory = state_dir()
    name = hashlib.sha256(job.encode()).hexdigest()[:16]
    path = directory / f"sync-{name}.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"{directory}: cannot keep the run lock ({exc.strerror}); "
                         "set RELOCATOR_STATE_DIR to a writable directory") from None
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
