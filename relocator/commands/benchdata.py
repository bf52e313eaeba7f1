"""What `relocator bench` writes into a registry: its generated blobs, the record of where each
went (the user's repository and the two named from it), and the cleanup that deletes them."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Reference, Repository
from relocator.registry import RegistryClient

__all__ = ["GC_NOTE", "BenchBlob", "Ledger", "cleanup", "make_blob", "side_repositories"]

_MIB = 1024 * 1024
_BLOCK = hashlib.shake_256(b"relocator-bench").digest(_MIB)

# Deleting through the API only unlinks: distribution's `registry garbage-collect`, Harbor's and
# zot's GC jobs reclaim the bytes later (distribution docs, "Garbage collection").
GC_NOTE = ("deleted blobs and manifests free their space only after the registry's garbage "
           "collection runs (distribution: registry garbage-collect)")


@dataclass(frozen=True, slots=True)
class BenchBlob:
    """A generated blob: its descriptor, and the seed its bytes are made from."""

    desc: Descriptor
    seed: bytes

    def chunks(self, offset: int = 0) -> AsyncIterator[bytes]:
        """The bytes from ``offset`` on, made again on every call (a retry reopens the source)."""
        return _content(self.seed, self.desc.size, offset)


def _pieces(seed: bytes, size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of a blob: a per-blob header, then a repeated block (no PRNG per byte)."""
    pos = 0
    while pos < size:
        piece = (seed + _BLOCK[len(seed):]) if pos == 0 else _BLOCK
        piece = piece[: size - pos]
        yield pos, piece
        pos += len(piece)


async def _content(seed: bytes, size: int, offset: int) -> AsyncIterator[bytes]:
    for pos, piece in _pieces(seed, size):
        if pos + len(piece) > offset:
            yield piece[max(0, offset - pos):]


def make_blob(size: int, index: int, nonce: bytes) -> BenchBlob:
    """Blob number ``index`` of a run (``nonce`` keeps runs apart) of ``size`` bytes, hashed once."""
    seed = nonce + index.to_bytes(8, "big")
    h = hashlib.sha256()
    for _, piece in _pieces(seed, size):
        h.update(piece)
    return BenchBlob(Descriptor("application/octet-stream", Digest("sha256", h.hexdigest()), size), seed)


def side_repositories(repo: Repository, copy_to: Repository | None) -> tuple[Repository, Repository]:
    """The mount target and the copy target: named from the user's repository (``REPO-bench-mount``,
    ``REPO-bench-copy``) on its registry, so a reader of the catalog sees whose they are; the copy
    target is ``copy_to`` when given (a copy registry to registry)."""
    mount = Repository(repo.registry, f"{repo.path}-bench-mount")
    return mount, copy_to or Repository(repo.registry, f"{repo.path}-bench-copy")


@dataclass(slots=True)
class Ledger:
    """What bench wrote, by repository, in the order written: blobs and manifest digests."""

    blobs: dict[Repository, list[Descriptor]] = field(default_factory=dict)
    manifests: dict[Repository, list[Digest]] = field(default_factory=dict)

    def blob(self, repo: Repository, desc: Descriptor) -> None:
        """Record a blob now in ``repo``."""
        self.blobs.setdefault(repo, []).append(desc)

    def manifest(self, repo: Repository, digest: Digest) -> None:
        """Record a manifest now in ``repo``."""
        self.manifests.setdefault(repo, []).append(digest)


async def cleanup(client: RegistryClient, ledger: Ledger) -> list[str]:
    """Delete everything in ``ledger``: manifests first (they refer to the blobs), then the blobs of
    the side repositories, then the user's. One note per repository: what was deleted, or how many
    deletions the registry refused and its first answer (a registry may not allow deletes)."""
    notes: list[str] = []
    # The user's repository was written first (the first push), so it is emptied last.
    repos = list(dict.fromkeys([*reversed(list(ledger.blobs)), *ledger.manifests]))
    for repo in repos:
        manifests = ledger.manifests.get(repo, [])
        blobs = list(dict.fromkeys(d.digest for d in ledger.blobs.get(repo, [])))
        refused: list[str] = []
        for digest in manifests:
            try:
                await client.delete_manifest(Reference(repo, digest=digest))
            except RelocatorError as exc:
                refused.append(str(exc))
        for digest in blobs:
            try:
                await client.delete_blob(repo, digest)
            except RelocatorError as exc:
                refused.append(str(exc))
        total = len(manifests) + len(blobs)
        if refused:
            notes.append(f"could not delete {len(refused)} of {total} benchmark blobs and manifests from "
                         f"{repo} (the registry may not allow deletes): {refused[0]}")
        else:
            notes.append(f"deleted {len(blobs)} benchmark blobs and {len(manifests)} manifests from {repo}")
    return notes
