"""OciDirStore: an OCI image layout directory as a sink (skopeo's ``oci:DIR[:NAME]``).

Blobs and manifests go to ``blobs/<alg>/<hex>``, each written under a temp name beside its place,
its size checked, synced and renamed into place; one already there with the right size and digest
is kept, so a re-run moves nothing. ``oci-layout`` and ``index.json`` are written at ``close``,
naming the images that finished (the files of one that did not stay, unnamed, for a re-run to
skip), or not at all when the run commits nothing. ``index.json`` is merged with the layout's own:
the other images stay, and a name this run writes now points at its new manifest (skopeo moves a
name the same way).
Source for the layout itself: opencontainers/image-spec ``image-layout.md``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence, Set
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from relocator.errors import InputError, RelocatorError, SizeMismatch
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.layout import (
    INDEX_JSON,
    LAYOUT_FILE,
    OCI_LAYOUT,
    REF_NAME,
    IndexNames,
    build_index,
    parse_index,
)
from relocator.stores.base import Opener
from relocator.stores.files import file_mode, fsync_dir, hash_range
from relocator.stores.naming import NamesInIndex

__all__ = ["OciDirStore", "merge_index"]

_TEMP = ".relocator-"  # temp names in blobs/<alg>/: ours to remove when a killed run left them


class OciDirStore(NamesInIndex):
    """A BlobSink writing an OCI image layout directory, made if missing.

    ``name``, when given, is the one ``org.opencontainers.image.ref.name`` for every image
    (``oci:DIR:NAME``); otherwise each tag write names its image by its full reference.
    It ``Commits`` (to ``location``).
    """

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = path
        self.location = str(path)
        self.names = IndexNames(str(path), name)
        self._present: set[Digest] = set()  # verified there, or written by this run
        self._index: dict[str, Any] | None = None  # the layout's index.json as found
        self._fd = -1  # the directory, locked while the run writes it
        self._made = False
        self._wrote = False

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Make or open the directory, lock it, read its index.json. Raises InputError for a
        directory that is neither empty nor an OCI layout, or that another run is writing."""
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        try:
            self._made = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write ({exc.strerror})") from None
        try:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InputError(f"{self.path}: another relocator run is writing it") from None
            self._index = _read_index(self.path)
            for stale in (*self.path.glob(f"{_TEMP}*"), *self.path.glob(f"blobs/*/{_TEMP}*")):
                stale.unlink(missing_ok=True)
        except BaseException:
            self._close_fd()
            raise

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True if the blob is there with its size and digest (hashed once per run)."""
        return await self._there(desc.digest, desc.size)

    async def has_manifest(self, ref: Reference) -> bool:
        """True if the manifest is there by digest and hashes to it."""
        return ref.digest is not None and await self._there(ref.digest, None)

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Stream verified bytes to a temp file beside the blob's place, then rename it there."""
        if desc.digest in self._present:
            return
        target = self.path / desc.digest.blob_path
        with _writing(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"{_TEMP}{desc.digest.hex[:16]}-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb", buffering=0) as f:
                written = 0
                async for chunk in opener(0):
                    written += len(chunk)
                    if written > desc.size:
                        raise SizeMismatch(f"{desc.digest}: more bytes than its {desc.size}")
                    with _writing(target):
                        f.write(chunk)  # page-cache writes: cheaper than a thread hop per chunk
                if written != desc.size:
                    raise SizeMismatch(f"{desc.digest}: {written} bytes, its descriptor says {desc.size}")
                with _writing(target):
                    os.fchmod(fd, file_mode())
                    await asyncio.to_thread(os.fsync, fd)
            with _writing(target):
                os.replace(name, target)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(name)
            raise
        self._present.add(desc.digest)
        self._wrote = True

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Write the exact bytes by digest (unless already there)."""
        if manifest.digest not in self._present:
            await asyncio.to_thread(_put, self.path / manifest.digest.blob_path, manifest.raw)
            self._present.add(manifest.digest)
            self._wrote = True

    async def close(self, keep: Set[Digest] | None) -> None:
        """Unless ``keep`` is None, write ``oci-layout`` and the merged ``index.json`` naming the
        finished images (every file they need is in place); either way keep what was written
        (verified blobs make a re-run cheap), but not an empty directory this run made."""
        if self._fd < 0:
            return
        try:
            if keep is not None:
                await asyncio.to_thread(self._commit, keep)
            elif self._made and not self._wrote:
                for empty in (*self.path.glob("blobs/*"), self.path / "blobs", self.path):
                    try:
                        empty.rmdir()
                    except OSError:
                        pass
        finally:
            self._close_fd()

    def _commit(self, keep: Set[Digest]) -> None:
        for alg in self.path.glob("blobs/*"):
            fsync_dir(alg)  # the renames into place, before a name points at them
        if not (self.path / LAYOUT_FILE).exists():
            _put(self.path / LAYOUT_FILE, OCI_LAYOUT)
        new = json.loads(self.names.index(keep))["manifests"]
        _put(self.path / INDEX_JSON, merge_index(self._index, new))
        fsync_dir(self.path)

    async def _there(self, digest: Digest, size: int | None) -> bool:
        if digest not in self._present and await asyncio.to_thread(
                _holds, self.path / digest.blob_path, digest, size):
            self._present.add(digest)
        return digest in self._present

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # and the lock with it
            self._fd = -1


def merge_index(index: dict[str, Any] | None, entries: list[dict[str, Any]]) -> bytes:
    """``index.json``: ``index`` (the layout's, or none) with each named entry of ``entries`` put
    where its name was, else where an unnamed entry of its digest was, else at the end (an
    unnamed entry only ever takes the place of an unnamed one of its digest)."""
    doc = dict(index) if index is not None else json.loads(build_index([]))
    manifests = list(doc.get("manifests", []))
    for entry in entries:
        name = _name(entry)
        at = None if name is None else next((i for i, m in enumerate(manifests) if _name(m) == name), None)
        if at is None:
            at = next((i for i, m in enumerate(manifests)
                       if _name(m) is None and m.get("digest") == entry["digest"]), None)
        if at is None:
            manifests.append(entry)
        else:
            manifests[at] = entry
    doc["manifests"] = manifests
    return json.dumps(doc, indent=2).encode() + b"\n"


def _name(entry: dict[str, Any]) -> str | None:
    annotations = entry.get("annotations")
    return annotations.get(REF_NAME) if isinstance(annotations, dict) else None


def _read_index(path: Path) -> dict[str, Any] | None:
    """The layout's index.json, None for a new layout; refuses what it cannot safely merge with."""
    layout, index = path / LAYOUT_FILE, path / INDEX_JSON
    if not layout.exists() and not index.exists():
        if any(p.name != "blobs" for p in path.iterdir()):
            raise InputError(f"{path}: neither empty nor an OCI image layout (no oci-layout)")
        return None
    if layout.exists():
        try:
            version = json.loads(layout.read_bytes())["imageLayoutVersion"]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path}: oci-layout is not an OCI layout file") from None
        if version != "1.0.0":
            raise InputError(f"{path}: OCI layout version {version!r}, only 1.0.0 is known")
    if not index.exists():
        return None
    raw = index.read_bytes()
    parse_index(raw, str(path))  # refuses what is not an OCI index
    doc: dict[str, Any] = json.loads(raw)
    return doc


def _holds(path: Path, digest: Digest, size: int | None) -> bool:
    """True if ``path`` has ``size`` bytes (when given) that hash to ``digest``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        have = os.fstat(fd).st_size
        if size is not None and have != size:
            return False
        return hash_range(fd, 0, have, digest.algorithm) == digest.hex
    finally:
        os.close(fd)


def _put(path: Path, data: bytes) -> None:
    """A small file, atomically: temp name beside it, the user's mode, synced, renamed."""
    with _writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{_TEMP}{path.name[:16]}-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(fd, file_mode())
                f.write(data)
                f.flush()
                os.fsync(fd)
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """OSError as the RelocatorError that names the file."""
    try:
        yield
    except OSError as exc:
        raise RelocatorError(f"{path}: cannot write ({exc.strerror})") from None
