"""OCI image layouts written by any tool, as a tar (indexed by ``TarIndex``) or a directory.

A layout tar may name its members ``./blobs/...`` and hold directory members for the root,
``blobs`` and ``blobs/ALG`` (``tar -C DIR -cf F.tar .`` writes them); ``manifest.json`` and
``repositories`` may sit beside the layout (``docker save`` from Docker 25 on). Links, other
directories and any other name are refused. Layout: OCI image-spec image-layout.md.
"""

from __future__ import annotations

from pathlib import Path

from relocator.errors import InputError, UnsafeTarMember
from relocator.oci import Digest
from relocator.oci.layout import (
    INDEX_JSON,
    LAYOUT_FILE,
    check_layout_version,
    is_layout_dir,
    member_digest,
    parse_index,
)
from relocator.stores.archive import Contents, Member, TarIndex

__all__ = ["KIND", "MAX_INDEX", "is_oci_tar", "read_oci_dir", "read_oci_tar"]

KIND = "OCI layout"
MAX_INDEX = 16 << 20


def is_oci_tar(index: TarIndex) -> bool:
    """True when the tar has an ``oci-layout`` or an ``index.json`` member: read it as a layout."""
    return LAYOUT_FILE in index.members or INDEX_JSON in index.members


def read_oci_tar(index: TarIndex) -> Contents:
    """Blobs and index.json entries of an OCI layout tar.

    Raises UnsafeTarMember for a member a layout cannot hold, InputError when ``oci-layout`` or
    ``index.json`` is missing, the layout is not version 1.x or index.json is not an image index.
    """
    where = index.where
    members: dict[Digest, Member] = {}
    for name, found in index.members.items():
        if found.kind == "directory":
            if not is_layout_dir(name):
                raise UnsafeTarMember(f"{where}: member {name!r} is a directory outside the layout's blobs")
            continue
        if found.kind != "file":
            raise UnsafeTarMember(f"{where}: member {name!r} is a {found.kind}, not a regular file")
        try:
            digest = member_digest(name)
        except UnsafeTarMember as exc:
            raise UnsafeTarMember(f"{where}: {exc}") from None
        if digest is not None:
            members[digest] = Member(name, found.size, found.offset)
    layout, index_json = index.file(LAYOUT_FILE), index.file(INDEX_JSON)
    if layout is None or index_json is None:
        raise InputError(f"{where}: not an OCI image layout tar (no oci-layout or index.json)")
    check_layout_version(index.read(layout, MAX_INDEX), where)
    entries = parse_index(index.read(index_json, MAX_INDEX), where)
    return Contents(KIND, members, tuple(entries))


def read_oci_dir(path: Path) -> Contents:
    """Blobs and index.json entries of an OCI layout directory; other files are never read.

    Symbolic links among the blobs are skipped (a manifest naming one then finds it missing).
    Raises InputError as ``read_oci_tar`` does, and for a file or directory that cannot be read.
    """
    if not (path / LAYOUT_FILE).is_file() or not (path / INDEX_JSON).is_file():
        raise InputError(f"{path}: not an OCI image layout (no oci-layout or index.json)")
    members: dict[Digest, Member] = {}
    blobs = path / "blobs"
    for alg_dir in sorted(blobs.iterdir()) if blobs.is_dir() else []:
        if not alg_dir.is_dir() or alg_dir.is_symlink():
            continue
        for blob in sorted(alg_dir.iterdir()):
            name = f"blobs/{alg_dir.name}/{blob.name}"
            try:
                digest = member_digest(name)
            except UnsafeTarMember:
                continue  # not a blob name: a layout directory may hold editor or OS litter
            if digest is not None and blob.is_file() and not blob.is_symlink():
                members[digest] = Member(name, blob.stat().st_size, 0, blob)
    try:
        check_layout_version((path / LAYOUT_FILE).read_bytes(), str(path))
        raw = (path / INDEX_JSON).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read {exc.filename} ({exc.strerror})") from None
    return Contents(KIND, members, tuple(parse_index(raw, str(path))))
