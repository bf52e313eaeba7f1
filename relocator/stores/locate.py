"""Locations in skopeo's transport spellings, and the one function from a location to its store.

``docker://REF`` (or a bare reference) is a registry; ``oci:DIR[:NAME]`` an OCI image layout
directory; ``oci-archive:FILE[:NAME]`` an OCI layout tarball; ``docker-archive:FILE[:NAME]`` a
``docker save`` archive (read only). A bare path that exists is read by its content (any layout,
tarball, Docker archive or Carvel tarball). Source of the spellings: containers-transports(5).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from relocator.errors import BadReference, InputError
from relocator.oci import Reference

__all__ = ["Location", "Scheme", "parse_location"]

Scheme = Literal["docker", "oci", "oci-archive", "docker-archive", "path"]
_FILE_SCHEMES: dict[str, Scheme] = {"oci": "oci", "oci-archive": "oci-archive",
                                     "docker-archive": "docker-archive"}


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
    """Parse ``text`` (``role`` is "source" or "destination", for the error message).

    Raises InputError naming the location and the cause.
    """
    scheme, sep, rest = text.partition(":")
    if sep and scheme == "docker":
        if not rest.startswith("//"):
            raise InputError(f"{role} {text!r}: docker: takes docker://HOST/REPO[:TAG]")
        return _registry(text, rest[2:], role)
    if sep and scheme in _FILE_SCHEMES:
        # The path ends at the first colon: skopeo's rule, so a NAME may itself hold colons.
        path, _, name = rest.partition(":")
        if not path:
            raise InputError(f"{role} {text!r}: no path after {scheme}:")
        return Location(_FILE_SCHEMES[scheme], text, path=Path(path), name=name or None)
    if os.path.exists(text) or text.startswith(("/", "./", "../")):
        return Location("path", text, path=Path(text))
    return _registry(text, text, role)


def _registry(text: str, ref_text: str, role: str) -> Location:
    try:
        return Location("docker", text, reference=Reference.parse(ref_text))
    except BadReference as exc:
        raise InputError(f"{role} {text!r}: {exc.reason}") from None
