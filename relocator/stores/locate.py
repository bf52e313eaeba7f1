"""Locations in skopeo's transport spellings, and the one function from a location to its store.

``docker://REF`` (or a bare reference) is a registry; ``oci:DIR[:NAME]`` an OCI image layout
directory; ``oci-archive:FILE[:NAME]`` an OCI layout tarball; ``docker-archive:FILE[:NAME|:@N]`` a
``docker save`` archive (read only). A bare path that exists is read by its content (any layout,
tarball, Docker archive or Carvel tarball). Source of the spellings: containers-transports(5).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from relocator.errors import BadReference, InputError
from relocator.oci import Reference
from relocator.oci.layout import INDEX_JSON, parse_ref_name
from relocator.oci.reference import ARCHIVE_SUFFIXES, DOCKER_TRANSPORT, LOCAL_TRANSPORTS
from relocator.stores.base import BlobSink
from relocator.stores.files import check_writable
from relocator.stores.layout_source import LayoutSource, open_layout
from relocator.stores.ocidir import OciDirStore
from relocator.stores.registry import RegistryStore
from relocator.stores.tarball import TarballFile

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["Location", "Scheme", "check_destination", "open_source", "parse_location", "sink_for"]

Scheme = Literal["docker", "oci", "oci-archive", "docker-archive", "path"]
_FILE_SCHEMES: dict[str, Scheme] = {"oci": "oci", "oci-archive": "oci-archive",
                                     "docker-archive": "docker-archive"}
# The other transports of containers-transports(5) (and containers/image's tarball): read as a
# bare reference, "dir:out" would be Docker Hub's library/dir tagged "out".
_OTHER_TRANSPORTS = LOCAL_TRANSPORTS - _FILE_SCHEMES.keys()
_SPELLINGS = ("docker://REF (or a bare reference), oci:DIR[:NAME], oci-archive:FILE[:NAME], "
              "docker-archive:FILE[:NAME|:@N] (sources only)")


@dataclass(frozen=True, slots=True)
class Location:
    """A parsed location: a registry ``reference``, or a ``path`` with an optional image ``name``."""

    scheme: Scheme
    text: str
    reference: Reference | None = None
    path: Path | None = None
    name: str | None = None

    @property
    def is_registry(self) -> bool:
        return self.scheme == "docker"


def parse_location(text: str, *, role: str) -> Location:
    """Parse ``text`` (``role`` is "source" or "destination", for the error message). A bare
    tarball name (``out.tar``) that is no file here is refused, not read as a Docker Hub
    repository (``docker://out.tar`` is one).

    Raises InputError naming the location and the cause.
    """
    scheme, sep, rest = text.partition(":")
    if sep and scheme == "docker" and not rest.startswith("//"):
        raise InputError(f"{role} {text!r}: docker: takes docker://HOST/REPO[:TAG]")
    if sep and scheme == "docker":
        return _registry(text, role)
    if sep and scheme in _FILE_SCHEMES:
        # The path ends at the first colon: skopeo's rule, so a NAME may itself hold colons.
        path, _, name = rest.partition(":")
        if not path:
            raise InputError(f"{role} {text!r}: no path after {scheme}:")
        return Location(_FILE_SCHEMES[scheme], text, path=Path(path), name=name or None)
    if sep and scheme in _OTHER_TRANSPORTS:
        raise InputError(f"{role} {text!r}: relocator does not do the {scheme}: transport; "
                         f"it takes {_SPELLINGS}")
    if sep and scheme == "oci-layout":
        raise InputError(f"{role} {text!r}: oci-layout: is no transport; an OCI layout directory is "
                         "oci:DIR[:NAME], an OCI layout tarball oci-archive:FILE[:NAME]")
    if os.path.exists(text) or text.startswith(("/", "./", "../")):
        return Location("path", text, path=Path(text))
    if text.endswith(ARCHIVE_SUFFIXES):
        # A file name, not Docker Hub's library/out.tar: docker://out.tar says that if meant.
        if role == "source":
            raise InputError(f"source {text!r}: no such file (write {DOCKER_TRANSPORT}{text} for a "
                             "registry repository so named)")
        raise InputError(f"destination {text!r} looks like a file: write oci-archive:{text}")
    return _registry(text, role)


def _registry(text: str, role: str) -> Location:
    try:
        return Location("docker", text, reference=Reference.parse_arg(text))
    except BadReference as exc:
        raise InputError(f"{role} {text!r}: {exc.reason}") from None


def open_source(location: Location) -> LayoutSource | None:
    """The layout, tarball or archive a file location names, read by its content (the caller
    closes it); None for a registry, which reads through the run's client. Raises InputError."""
    if location.path is None:
        return None
    if location.scheme == "oci" and location.path.is_file():
        raise InputError(f"source {location.text!r}: {location.path} is a file: "
                         f"write {_respelled(location, 'oci-archive')}")
    if location.scheme in ("oci-archive", "docker-archive") and location.path.is_dir():
        raise InputError(f"source {location.text!r}: {location.path} is a directory: "
                         f"write {_respelled(location, 'oci')}")
    return open_layout(location.path)


def _respelled(location: Location, scheme: str) -> str:
    """The same path and NAME under another scheme: what the user meant to write."""
    return f"{scheme}:{location.text.partition(':')[2]}"


def check_destination(location: Location) -> None:
    """Refuse, before anything is read, what cannot be written: read-only schemes, a bare path, a
    file where a directory goes or the other way round, and a place the user may not write.
    (A bare "reference" that is really a file name, ``out.tar``, is refused by parse_location.)"""
    if location.scheme == "docker-archive":
        raise InputError(f"destination {location.text!r}: docker-archive is read only here; "
                         "write oci-archive:FILE or oci:DIR")
    if location.scheme == "path":
        raise InputError(f"destination {location.text!r}: name the format: oci:DIR or oci-archive:FILE")
    if location.name is not None:
        _check_name(location, location.name)
    path = location.path
    if path is None:
        return
    if location.scheme == "oci" and path.is_file():
        raise InputError(f"destination {location.text!r}: {path} is a file: "
                         f"write {_respelled(location, 'oci-archive')}")
    if location.scheme == "oci-archive" and path.is_dir():
        raise InputError(f"destination {location.text!r}: {path} is a directory: "
                         f"write {_respelled(location, 'oci')}")
    try:
        check_writable(path, directory=location.scheme == "oci")
        if location.scheme == "oci" and (path / INDEX_JSON).exists():
            check_writable(path / INDEX_JSON)
    except InputError as exc:
        raise InputError(f"destination {location.text!r}: {exc}") from None


def _check_name(location: Location, name: str) -> None:
    """A layout destination's NAME goes into index.json as the ref.name of its image: refuse one
    the readers (oci.layout.parse_ref_name, skopeo) would refuse, since it would make the whole
    layout unreadable, and one with a digest, which the copy cannot honour."""
    try:
        ref = parse_ref_name(name)
    except BadReference as exc:
        raise InputError(f"destination {location.text!r}: name {name!r}: {exc.reason}") from None
    if ref.digest is not None:
        raise InputError(f"destination {location.text!r}: a destination names a tag, not a digest "
                         "(the image keeps its own)")


def sink_for(location: Location, client: RegistryClient, *, chunk_size: int | None = None) -> BlobSink:
    """The store a destination location writes to. Raises InputError (``check_destination``)."""
    check_destination(location)
    if location.reference is not None:
        return RegistryStore(client, chunk_size=chunk_size)
    assert location.path is not None
    if location.scheme == "oci":
        return OciDirStore(location.path, name=location.name)
    return TarballFile(location.path, name=location.name)
