"""An upload-session entry belongs to one live run at a time: another run pushing the same blob
into the same repository neither resumes nor replaces it, and a killed holder frees it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from relocator.stores.uploadbook import MAX_AGE, UploadBook

KEY = ("127.0.0.1:5000", "app", "sha256:" + "a" * 64)
OTHER = ("127.0.0.1:5000", "app", "sha256:" + "b" * 64)

_HOLDER = """
import sys
from pathlib import Path
from relocator.stores.uploadbook import MAX_AGE, UploadBook
book = UploadBook(Path(sys.argv[1]))
assert book.claim(*sys.argv[2:5])
print("held", flush=True)
sys.stdin.read()
"""


def holder(directory: Path, key: tuple[str, str, str] = KEY) -> subprocess.Popen[str]:
    """Another process (a live run) holding ``key``'s entry until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(directory), *key],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_an_entry_held_by_a_live_run_is_not_claimed(tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    other = holder(directory)
    book = UploadBook(directory)
    try:
        assert not book.claim(*KEY)
        assert book.claim(*OTHER)  # another blob's entry is free
    finally:
        book.close()
        other.kill()
        other.communicate()
    book = UploadBook(directory)
    assert book.claim(*KEY)  # the kernel dropped the dead holder's lock
    book.close()
    assert (tmp_path / "uploads.lock").stat().st_mode & 0o777 == 0o600


def test_an_entry_of_another_live_run_outlives_a_blob_found_present(tmp_path: Path) -> None:
    """What a run that finds the blob at the destination drops is only an entry nobody holds."""
    directory = tmp_path / "uploads"
    UploadBook(directory).keep(*KEY, "/v2/app/blobs/uploads/1")
    other = holder(directory)
    book = UploadBook(directory)
    try:
        if book.claim(*KEY):  # as RegistryStore._settled does
            book.forget(*KEY)
        assert book.find(*KEY) == "/v2/app/blobs/uploads/1"
    finally:
        book.close()
        other.kill()
        other.communicate()


def test_oversized_entry_is_no_entry(tmp_path: Path) -> None:
    book = UploadBook(tmp_path / "uploads")
    book.keep(*KEY, "/v2/app/blobs/uploads/1")
    (entry,) = (tmp_path / "uploads").glob("*.json")
    entry.write_text(entry.read_text()[:-1] + " " * 100_000 + "}")
    assert book.find(*KEY) is None
    assert not entry.exists()


def test_old_files_are_swept_and_a_killed_write_is_forgotten(tmp_path: Path) -> None:
    directory = tmp_path / "uploads"
    directory.mkdir()
    stale, fresh_tmp = directory / ("0" * 32 + ".json"), directory / ("1" * 32 + ".tmp")
    stale.write_text("{}")
    fresh_tmp.write_text("{")  # a write a killed run left: not old, kept by the sweep
    week_ago = time.time() - MAX_AGE - 60
    os.utime(stale, (week_ago, week_ago))
    book = UploadBook(directory)
    book.keep(*KEY, "/v2/app/blobs/uploads/1")
    assert not stale.exists() and fresh_tmp.exists()
    (entry,) = directory.glob("*.json")
    entry.with_suffix(".tmp").write_text("{")  # killed while writing the next Location
    book.forget(*KEY)
    assert sorted(f.name for f in directory.iterdir()) == [fresh_tmp.name]
