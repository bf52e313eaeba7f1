"""Tarballs and layouts written by other tools, as a BlobSource; ``open_layout`` tells them apart.

``open_layout(path)`` looks at content, never at the file name:

- a directory: an OCI image layout;
- a file starting with the gzip magic bytes: decompressed once into an unnamed temp file in the
  system temp dir (no name on disk, so nothing is left behind even by a killed process), then
  read as below;
- a tar with ``oci-layout`` or ``index.json``: an OCI layout (skopeo, umoci, ``tar -C DIR .``,
  relocator pkg, ``docker save`` from Docker 25 on);
- a tar with ``manifest.json`` whose items hold ``Image``/``ImageIndex``: a Carvel tarball;
- a tar with another ``manifest.json``: a Docker archive (``docker save`` before Docker 25,
  skopeo docker-archive), whose manifests are rebuilt (see ``LayoutSource.notes``).

A source holds the archive open: call ``close()`` or use it as a context manager
(``with open_layout(p) as source:``); an unclosed source lets go of its file when collected.
Reading the members' bytes is ``stores.members``'; this module names them (entries, media
types, referrers, left-out entries) and checks them against the plan.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from relocator.errors import BadArchive, InputError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.carvel import is_carvel_manifest
from relocator.oci.layout import IndexEntry, omitted_of
from relocator.stores.archive import Contents, TarIndex, decompress_to_temp
from relocator.stores.base import ReferrerLookup
from relocator.stores.carvel import MANIFEST_JSON, read_carvel
from relocator.stores.dockerarchive import read_docker_archive
from relocator.stores.layout_referrers import LayoutReferrers, split_entries
from relocator.stores.members import MAX_MANIFEST, MemberReader
from relocator.stores.ocilayout_read import KIND as OCI_KIND
from relocator.stores.ocilayout_read import is_oci_tar, read_oci_dir, read_oci_tar

__all__ = ["LayoutSource", "open_layout"]

_MAX_MANIFEST_JSON = 64 << 20  # a Carvel tarball carries every manifest and config in it


class LayoutSource(MemberReader):
    """Reads manifests and blobs of a tarball or layout by digest (the BlobSource protocol;
    blobs, ``member`` and ``close`` from MemberReader).

    ``entries`` are the named images (index.json entries, or their equivalent), ``where`` the
    path as given, ``kind`` the format found, ``notes`` warnings for the user (one line each).
    """

    def __init__(self, where: str, contents: Contents, fd: int | None = None) -> None:
        super().__init__(where, contents.members, fd)
        self.kind = contents.kind
        self.notes: list[str] = list(contents.notes)
        self._types = {e.descriptor.digest: e.descriptor.media_type for e in contents.entries}
        self._types.update(contents.media_types)
        # An OCI layout may list referrers too (stores.layout_referrers): they are not images.
        self.referrers = (split_entries(contents.entries, self._read_now) if contents.kind == OCI_KIND
                          else LayoutReferrers(contents.entries))
        self.entries: list[IndexEntry] = list(self.referrers.images)
        for found in self.referrers.by_subject.values():
            self._types.update((r.digest, r.descriptor.media_type) for r in found if r.descriptor.media_type)
        # Index entries a sparse copy left out (oci.layout.OMITTED), whichever image lists them.
        self._omitted = frozenset(d for e in self.entries for d in omitted_of(e.descriptor, where))

    def preflight(self, failed: Mapping[str, str], needs: Mapping[Digest, Sequence[Descriptor]]) -> None:
        """Refuse a plan this archive cannot supply (stores.base.Preflight): any image that
        could not be planned from it, any blob it lacks or holds at another size. Raises
        InputError (BadArchive for a blob) naming the archive, the image or manifest, the cause."""
        if failed:
            label, why = min(failed.items())
            more = f" (and {len(failed) - 1} more images)" if len(failed) > 1 else ""
            text = why if why.startswith(self.where) else f"{self.where}: {label}: {why}"
            raise InputError(text + more)
        for manifest, blobs in sorted(needs.items()):
            for desc in blobs:
                found = self._members.get(desc.digest)
                if found is None:
                    raise BadArchive(f"{self.where}: manifest {manifest} names {desc.digest}, "
                                     "which the archive does not hold")
                if found.size != desc.size:
                    raise BadArchive(f"{self.where}: manifest {manifest} says {desc.size} bytes for "
                                     f"{desc.digest}; member {found.name} has {found.size}")

    def check_entries(self) -> None:
        """Refuse entries that do not match what they point at: every named image's manifest
        must be here, of the descriptor's size, hashing to its digest. Done when the archive is
        opened, so every command refuses such an archive alike. Blocking (small reads only).

        Raises BadArchive naming the archive, the entry and the cause.
        """
        for i, entry in enumerate(self.entries):
            desc = entry.descriptor
            what = f"{self.where}: " + (f"index.json manifests[{i}]" if self.kind == OCI_KIND
                                        else f"image {entry.ref_name or i}")
            found = self._members.get(desc.digest)
            if found is None:
                raise BadArchive(f"{what} names {desc.digest}, which the archive does not hold")
            if found.size != desc.size:
                raise BadArchive(f"{what} says {desc.size} bytes for {desc.digest}; "
                                 f"member {found.name} has {found.size}")
            if found.size > MAX_MANIFEST:
                raise BadArchive(f"{what}: manifest {desc.digest} is larger than {MAX_MANIFEST} bytes")
            got = Digest.of(self._whole(found), desc.digest.algorithm)
            if got != desc.digest:
                raise BadArchive(f"{what}: member {found.name} does not match its digest {desc.digest} "
                                 f"(its content hashes to {got})")

    @property
    def left_out(self) -> frozenset[Digest]:
        """Index entries the layout lacks on purpose: those an entry's ``OMITTED`` annotation
        lists (a sparse copy's) and the layout does not hold."""
        return self._omitted - self._members.keys()

    def omitted(self, index: Digest) -> frozenset[Digest]:
        """``left_out``, whichever ``index`` asks (stores.base.KnowsOmitted): a digest is missing
        on purpose or not, wherever it is listed."""
        return self.left_out

    async def list_referrers(self, repo: Repository, subject: Descriptor,
                             artifact_type: str | None = None) -> ReferrerLookup:
        """The referrers the layout lists for ``subject`` (stores.layout_referrers)."""
        return ReferrerLookup(self.referrers.by_subject.get(subject.digest, ()))

    async def read_manifest(self, digest: Digest, media_type: str | None = None) -> Manifest:
        """The manifest by digest, typed by ``media_type`` or by the descriptor that named it."""
        raw = await self.read_small(digest)
        manifest = Manifest.parse(raw, media_type or self._types.get(digest), where=f"{self.where}: {digest}")
        for child in manifest.children:
            if child.media_type:
                self._types.setdefault(child.digest, child.media_type)
        return manifest

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest by digest, its media type taken from the descriptor that named it."""
        if ref.digest is None:
            raise InputError(f"{self.where}: {ref} names no digest")
        return await self.read_manifest(ref.digest)


def open_layout(path: Path) -> LayoutSource:
    """The tarball (optionally gzip, bzip2 or xz compressed) or OCI layout directory at ``path``, its format
    found by content (see the module docstring). Blocking: run it in a thread from async code.

    Raises InputError (exit 2) naming ``path`` for anything unreadable or of no known format,
    UnsafeTarMember for a member that could escape the archive or is not a plain file,
    BadArchive for an entry that does not match its manifest (``LayoutSource.check_entries``).
    """
    where = str(path)
    if where == "-" and not path.exists():
        # Reading needs seeks (members are read by offset, a gzip stream decompressed first).
        raise InputError("-: reading an archive from stdin is not supported: save it to a file and "
                         "name the file")
    try:
        source = LayoutSource(where, read_oci_dir(path)) if path.is_dir() else _open_file(path)
    except OSError as exc:  # the directory or file went away or cannot be read (EACCES)
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        source.check_entries()
    except BaseException:
        source.close()
        raise
    return source


def _open_file(path: Path) -> LayoutSource:
    where = str(path)
    # Opening a fifo would wait for a writer and a device may never end: regular files only.
    if not stat.S_ISREG(path.stat().st_mode):
        raise InputError(f"{path}: not a regular file or directory")
    fd = os.open(path, os.O_RDONLY)
    try:
        plain = decompress_to_temp(fd, where)
        if plain is not None:
            packed, fd = fd, plain
            os.close(packed)
        contents = _read_tar(TarIndex(where, fd))
    except BaseException:
        os.close(fd)
        raise
    return LayoutSource(where, contents, fd)


def _read_tar(index: TarIndex) -> Contents:
    if is_oci_tar(index):
        return read_oci_tar(index)
    manifest = index.file(MANIFEST_JSON)
    if manifest is None:
        raise InputError(f"{index.where}: not an image archive: no oci-layout or index.json (OCI layout) "
                         "and no manifest.json (Docker archive, Carvel tarball)")
    try:
        doc = json.loads(index.read(manifest, _MAX_MANIFEST_JSON))
    except ValueError as exc:
        raise InputError(f"{index.where}: manifest.json is not valid JSON ({exc})") from None
    if is_carvel_manifest(doc):
        return read_carvel(index, doc)
    return read_docker_archive(index, doc)
