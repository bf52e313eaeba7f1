"""Atomic output files get the user's mode, like any file the user's shell would make."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relocator.stores import files


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_atomic_files_follow_the_umask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int) -> None:
    monkeypatch.setattr(files, "_mode", None)
    old = os.umask(umask)
    try:
        files.write_atomic(tmp_path / "images.lock", b"x")
        plain = tmp_path / "plain"
        plain.write_bytes(b"x")
    finally:
        os.umask(old)
        files._mode = None
    mode = (tmp_path / "images.lock").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask == plain.stat().st_mode & 0o777
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
